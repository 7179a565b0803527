/**
 * Maps a recorder run's media time to the wall clock.
 *
 * ffmpeg reports how much media it has muxed (`out_time`) a few times a second. Each report arrives
 * a little after the frame it describes was captured, never before, so `arrival − media time` is an
 * upper bound of the true anchor (wall-clock instant of media time 0) and the smallest recent bound
 * is the best estimate. A sliding window (instead of the minimum since start) lets the estimate
 * follow a camera clock that drifts against ours over a long run.
 */
export class AnchorEstimator {
  private samples: Array<{ atMs: number; anchorMs: number }> = [];

  constructor(private readonly windowMs = 30_000) {}

  add(wallMs: number, mediaUs: number): void {
    if (!(mediaUs > 0)) return;
    const anchorMs = wallMs - mediaUs / 1000;
    // Keep a monotonic deque: older samples with a larger bound can never be the minimum again.
    while (this.samples.length > 0 && (this.samples.at(-1) as { anchorMs: number }).anchorMs >= anchorMs) this.samples.pop();
    this.samples.push({ atMs: wallMs, anchorMs });
    while (this.samples.length > 1 && (this.samples[0] as { atMs: number }).atMs < wallMs - this.windowMs) this.samples.shift();
  }

  /** Wall-clock ms of media time 0, or undefined before the first report. */
  anchorMs(): number | undefined {
    return this.samples[0]?.anchorMs;
  }
}
