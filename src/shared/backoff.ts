/** Restart delay: doubles from `initialMs` to `maxMs`; a healthy run resets it. */
export class Backoff {
  private nextMs: number;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {
    this.nextMs = initialMs;
  }

  /** The delay before the next start, given how long the run that just ended lasted. */
  next(runMs: number, healthyRunMs: number): number {
    if (runMs >= healthyRunMs) this.nextMs = this.initialMs;
    const delay = this.nextMs;
    this.nextMs = Math.min(this.nextMs * 2, this.maxMs);
    return delay;
  }
}
