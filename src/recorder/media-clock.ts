import { AnchorEstimator } from './anchor.js';

/** A leap of the camera's media clock seen while the run goes on (forward: reports; backward: a file). */
export interface ClockJump {
  direction: 'forward' | 'backward';
  /** Wall-clock ms of the report (or the file's close) that showed it. */
  seenAtMs: number;
  /** Forward: about how far media time leapt past the wall clock, ms (the file measures it exactly). */
  approxJumpMs?: number;
}

/**
 * A media-time leap forward at least this far past the wall clock is a jump. Below it, a report's
 * bound can sit under the anchor after an event-loop stall or a burst; a real frame interval never
 * comes near it (time-jump.ts uses the same floor on the file).
 */
export const FORWARD_JUMP_MS = 2500;

/**
 * Frame intervals between ffmpeg's `out_time` and the media whose capture the report follows: the
 * frame the MP4 muxer holds, and the camera's own capture-to-send delay. Calibrated against burned-in
 * capture instants (test/integration/time-truth.test.ts: frames placed +16 ms after capture with 2,
 * +87 ms with 1, when reports were timed by their arrival through a pipe; +27 ms with 2 since they are
 * timed by their file's modification time plus its 10-ms grain, `npm run bench -- --only placement`).
 * Until the live view read the segment files, a second (fifo) output reported one frame past the MP4
 * muxer and 1 here gave the same placement.
 */
const FRAMES_PAST_OUT_TIME = 2;

/**
 * A recorder run's media clock (invariant 15): maps media time to the wall clock through anchors
 * (`AnchorEstimator`), and watches ffmpeg's reports for the camera's clock leaping forward. A forward
 * leap starts a new epoch: media times from the leap on are placed by an anchor learnt from reports
 * after it, those before it by the anchor they had, and the run goes on (the indexer ends the row of
 * the segment holding the leap at its last true frame).
 *
 * A backward leap cannot be seen here with any certainty: ffmpeg then stamps frames a tick apart, but
 * its progress reports lag the frames they count whenever the machine is busy, which looks the same.
 * The files show it without doubt (time-jump.ts), and the recorder reconnects when one does.
 */
interface Epoch {
  /** Media time (s) from which footage belongs to this epoch. */
  fromSeconds: number;
  anchor: AnchorEstimator;
  /** The first report with a frame count: where its frame interval is measured from. */
  base?: { mediaUs: number; frames: number };
}

export class MediaClock {
  private readonly epochs: Epoch[] = [{ fromSeconds: -Infinity, anchor: new AnchorEstimator(), base: { mediaUs: 0, frames: 1 } }];
  private last: { wallMs: number; mediaUs: number } | undefined;
  /** The camera's frame interval, µs, as last measured inside an epoch. */
  private frameUs: number | undefined;
  readonly jumps: ClockJump[] = [];

  /**
   * One report at `wallMs`: ffmpeg's `out_time` (µs) and `frame` count, or (no frame count) media
   * received up to `outTimeUs` exactly, as a closed segment's end. With a frame count, `out_time` is
   * taken two frame intervals further (FRAMES_PAST_OUT_TIME): the MP4 muxer holds each frame until the
   * next arrives (it needs its duration), and a camera sends each frame about one frame interval after
   * capturing it (its encoder's delay), which no report can see. Returns the jump the report shows, if any.
   */
  report(wallMs: number, outTimeUs: number, frames?: number): ClockJump | undefined {
    if (!(outTimeUs > 0)) return undefined;
    // The interval measured up to the last report: this one may carry a leap, which would inflate it.
    const measured = frames === undefined ? undefined : this.interval(outTimeUs, frames);
    const mediaUs = frames === undefined ? outTimeUs : outTimeUs + FRAMES_PAST_OUT_TIME * (this.frameUs ?? measured ?? 0);
    const current = this.epochs.at(-1) as { fromSeconds: number; anchor: AnchorEstimator };
    const anchorMs = current.anchor.anchorMs();
    const prev = this.last;
    if (anchorMs !== undefined && prev !== undefined) {
      const boundMs = wallMs - mediaUs / 1000;
      const leadMs = (mediaUs - prev.mediaUs) / 1000 - (wallMs - prev.wallMs);
      if (boundMs < anchorMs - FORWARD_JUMP_MS && leadMs > FORWARD_JUMP_MS) {
        // Media from the leap on lies past the midpoint between the last report before it and this one.
        // Its frame interval is measured from this report on (the leap would inflate one measured across it).
        this.epochs.push({ fromSeconds: (prev.mediaUs + mediaUs) / 2 / 1e6, anchor: new AnchorEstimator(), ...(frames !== undefined ? { base: { mediaUs: outTimeUs, frames } } : {}) });
        (this.epochs.at(-1) as { anchor: AnchorEstimator }).anchor.add(wallMs, mediaUs);
        this.last = { wallMs, mediaUs };
        return this.noted({ direction: 'forward', seenAtMs: wallMs, approxJumpMs: Math.round(anchorMs - boundMs) });
      }
    }
    if (measured !== undefined) this.frameUs = measured;
    current.anchor.add(wallMs, mediaUs);
    this.last = { wallMs, mediaUs: Math.max(mediaUs, prev?.mediaUs ?? 0) };
    return undefined;
  }

  /** Wall-clock ms of media time 0 for footage at `mediaSeconds`, or undefined before any report. */
  anchorMs(mediaSeconds: number): number | undefined {
    for (let i = this.epochs.length - 1; i >= 0; i--) {
      const e = this.epochs[i] as { fromSeconds: number; anchor: AnchorEstimator };
      if (mediaSeconds >= e.fromSeconds) return e.anchor.anchorMs();
    }
    return undefined;
  }

  /** The frame interval (µs) at this report, measured inside the current epoch once it spans two frames. */
  private interval(outTimeUs: number, frames: number): number | undefined {
    const e = this.epochs.at(-1) as Epoch;
    if (e.base === undefined) e.base = { mediaUs: outTimeUs, frames };
    return frames - e.base.frames >= 2 && outTimeUs > e.base.mediaUs ? (outTimeUs - e.base.mediaUs) / (frames - e.base.frames) : undefined;
  }

  private noted(j: ClockJump): ClockJump {
    this.jumps.push(j);
    return j;
  }
}
