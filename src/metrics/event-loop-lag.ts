import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface LagFigures {
  p50Seconds: number;
  p99Seconds: number;
  maxSeconds: number;
}

/** Sampling resolution of the event-loop delay histogram (Node's default is 10 ms too). */
const RESOLUTION_MS = 10;

/**
 * How late the event loop runs, from Node's own delay histogram (no timer of ours, no clock read).
 * Each `take()` reports the interval since the previous one and starts a new interval, so a scrape
 * every 15 s sees the worst stall of those 15 s rather than one averaged away since start-up.
 */
export class EventLoopLag {
  private histogram: IntervalHistogram | undefined;

  start(): void {
    this.histogram ??= monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.histogram.enable();
  }

  stop(): void {
    this.histogram?.disable();
  }

  /** The figures since the previous take (zeros while nothing was sampled), or undefined before `start`. */
  take(): LagFigures | undefined {
    const h = this.histogram;
    if (!h) return undefined;
    const figures = h.count === 0
      ? { p50Seconds: 0, p99Seconds: 0, maxSeconds: 0 }
      : { p50Seconds: lagSeconds(h.percentile(50)), p99Seconds: lagSeconds(h.percentile(99)), maxSeconds: lagSeconds(h.max) };
    h.reset();
    return figures;
  }
}

/** The histogram holds each interval between its timer's runs; the lag is what exceeds the resolution. */
function lagSeconds(intervalNs: number): number {
  return Math.max(0, intervalNs / 1e9 - RESOLUTION_MS / 1000);
}
