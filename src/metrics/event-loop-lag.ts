import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { monotonicNs } from '../shared/clock.js';
import { quarterSecondTick } from '../shared/shared-tick.js';

export interface LagFigures {
  p50Seconds: number;
  p99Seconds: number;
  maxSeconds: number;
}

/**
 * How often the lag is sampled: at each tick of the process's quarter-second tick, whose wake-ups the
 * recorders' watchdogs already make. Node's own delay monitor (`monitorEventLoopDelay`, 10 ms by
 * default) woke an idle recording Vigil 100 times a second, ~0.4 % of a core for the wake-ups alone; a
 * 100-ms timer of its own still cost ~0.15 % (docs/proof.md). A stall of S ms shows as a lag of at
 * least S − 250 ms (a tick falls due inside it), and each tick's own lateness is measured to the
 * microsecond.
 */
export const RESOLUTION_MS = quarterSecondTick.everyMs;

/**
 * How late the event loop runs: each quarter-second tick records the time since the previous one
 * into a histogram. Each `take()` reports the interval since the previous one and starts a new interval,
 * so a scrape every 15 s sees the worst stall of those 15 s rather than one averaged away since start-up.
 * The timer is ours rather than Node's delay monitor: that one drops the first tick after each reset,
 * so a stall beginning within one period of a scrape went unreported.
 */
export class EventLoopLag {
  private histogram: RecordableHistogram | undefined;
  private unwatch: (() => void) | undefined;
  private lastTickNs = 0n;

  start(): void {
    if (this.unwatch) return;
    const h = (this.histogram ??= createHistogram());
    this.lastTickNs = monotonicNs();
    this.unwatch = quarterSecondTick.watch(() => {
      const now = monotonicNs();
      h.record(now - this.lastTickNs > 0n ? now - this.lastTickNs : 1n);
      this.lastTickNs = now;
    });
  }

  stop(): void {
    this.unwatch?.();
    this.unwatch = undefined;
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
