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
export class MediaClock {
  private readonly epochs: Array<{ fromSeconds: number; anchor: AnchorEstimator }> = [{ fromSeconds: -Infinity, anchor: new AnchorEstimator() }];
  private last: { wallMs: number; mediaUs: number } | undefined;
  readonly jumps: ClockJump[] = [];

  /**
   * One report: at `wallMs`, `mediaUs` of media had been received. Returns the jump it shows, if any.
   */
  report(wallMs: number, mediaUs: number): ClockJump | undefined {
    if (!(mediaUs > 0)) return undefined;
    const current = this.epochs.at(-1) as { fromSeconds: number; anchor: AnchorEstimator };
    const anchorMs = current.anchor.anchorMs();
    const prev = this.last;
    if (anchorMs !== undefined && prev !== undefined) {
      const boundMs = wallMs - mediaUs / 1000;
      const leadMs = (mediaUs - prev.mediaUs) / 1000 - (wallMs - prev.wallMs);
      if (boundMs < anchorMs - FORWARD_JUMP_MS && leadMs > FORWARD_JUMP_MS) {
        // Media from the leap on lies past the midpoint between the last report before it and this one.
        this.epochs.push({ fromSeconds: (prev.mediaUs + mediaUs) / 2 / 1e6, anchor: new AnchorEstimator() });
        (this.epochs.at(-1) as { anchor: AnchorEstimator }).anchor.add(wallMs, mediaUs);
        this.last = { wallMs, mediaUs };
        return this.noted({ direction: 'forward', seenAtMs: wallMs, approxJumpMs: Math.round(anchorMs - boundMs) });
      }
    }
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

  private noted(j: ClockJump): ClockJump {
    this.jumps.push(j);
    return j;
  }
}
