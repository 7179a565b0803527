import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { monotonicNs } from '../shared/clock.js';

export interface LagFigures {
  p50Seconds: number;
  p99Seconds: number;
  maxSeconds: number;
}

/**
 * How often the lag is sampled: the timer wakes the process this often. Node's own delay monitor
 * (`monitorEventLoopDelay`, 10 ms by default) woke an idle recording Vigil 100 times a second, ~0.4 %
 * of a core for the wake-ups alone (docs/proof.md). At 100 ms a stall of S ms shows as a lag of at least
 * S − 100 ms (a tick falls due inside it), and each tick's own lateness is measured to the microsecond.
 */
export const RESOLUTION_MS = 100;

/**
 * How late the event loop runs: a timer every RESOLUTION_MS records the time since its previous run
 * into a histogram. Each `take()` reports the interval since the previous one and starts a new interval,
 * so a scrape every 15 s sees the worst stall of those 15 s rather than one averaged away since start-up.
 * The timer is ours rather than Node's delay monitor: that one drops the first tick after each reset,
 * so a stall beginning within one period of a scrape went unreported (a blind 100 ms at this period).
 */
export class EventLoopLag {
  private histogram: RecordableHistogram | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastTickNs = 0n;

  start(): void {
    if (this.timer) return;
    const h = (this.histogram ??= createHistogram());
    this.lastTickNs = monotonicNs();
    this.timer = setInterval(() => {
      const now = monotonicNs();
      h.record(now - this.lastTickNs > 0n ? now - this.lastTickNs : 1n);
      this.lastTickNs = now;
    }, RESOLUTION_MS);
    // Sampling never keeps the process alive.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
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

/** The histogram holds each interval between its timer's runs; the lag is what exceeds the period. */
function lagSeconds(intervalNs: number): number {
  return Math.max(0, intervalNs / 1e9 - RESOLUTION_MS / 1000);
}
