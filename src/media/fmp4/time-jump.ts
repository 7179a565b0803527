import type { FragmentInfo } from './scan.js';

/**
 * Where a file's media clock jumps (time truth, docs/design.md invariant 15). A camera whose encoder
 * restarts or whose clock is stepped without ending the RTSP session sends RTP timestamps that leap:
 * - forward: ffmpeg gives the last frame before the leap a duration as long as the leap;
 * - backward: ffmpeg's muxer keeps decode times increasing by stamping each frame one tick after the
 *   last until the camera's clock has caught up, so frames follow one another a tick apart.
 * Either way the file's media time stops being the time the frames were captured at, and a row must
 * end where it still is: at the end of the last frame before the jump, given its usual duration.
 */
export interface MediaTimeJump {
  direction: 'forward' | 'backward';
  /** Media time from the file's first frame at which its footage stops being true: where a row must end. */
  endSeconds: number;
  /** The file's usual frame interval. */
  frameSeconds: number;
  /** How far the clock leapt (forward; backward jumps cannot be measured from the file). */
  jumpSeconds?: number;
  /** Frames (in decode order) before the jump, the last of them included: those the row keeps. */
  framesKept: number;
}

/**
 * A frame interval at least this long (and at least FORWARD_FACTOR usual intervals) is a forward jump,
 * not a camera's frame rate: smart codecs drop to 1 fps or slower at night, none waits this long.
 */
export const FORWARD_JUMP_MIN_SECONDS = 2.5;
const FORWARD_FACTOR = 8;
/** A frame a tick or two long; ffmpeg's stamps for a connection's first frame and for a clock gone back. */
const TICK_SECONDS = 0.002;
/** Tick-long frames in a row that make a backward jump (one alone is a camera repeating a timestamp). */
const BACKWARD_RUN = 3;

/** The first media-time jump in a file's main track, or undefined when its clock runs true. */
export function firstMediaTimeJump(file: { fragments: ReadonlyArray<Pick<FragmentInfo, 'sampleDurationsSeconds'>> }): MediaTimeJump | undefined {
  const durations: number[] = [];
  for (const f of file.fragments) for (const d of f.sampleDurationsSeconds) durations.push(d);
  // A typed array sorts numbers natively, without a comparator called per comparison.
  const real = Float64Array.from(durations.filter((d) => d > TICK_SECONDS)).sort();
  if (real.length === 0) return undefined;
  const frame = real[Math.floor(real.length / 2)] as number;
  const forwardAt = Math.max(FORWARD_JUMP_MIN_SECONDS, FORWARD_FACTOR * frame);
  let t = 0;
  // The first sample is left out: a connection's first frame lasts a tick (lead-in.ts).
  for (let i = 0; i < durations.length; i++) {
    const d = durations[i] as number;
    if (i > 0 && d >= forwardAt) return { direction: 'forward', endSeconds: t + frame, frameSeconds: frame, jumpSeconds: d - frame, framesKept: i + 1 };
    if (i > 0 && d <= TICK_SECONDS && durations.slice(i, i + BACKWARD_RUN).length === BACKWARD_RUN && durations.slice(i, i + BACKWARD_RUN).every((x) => x <= TICK_SECONDS)) {
      return { direction: 'backward', endSeconds: t + frame, frameSeconds: frame, framesKept: i + 1 };
    }
    t += d;
  }
  return undefined;
}
