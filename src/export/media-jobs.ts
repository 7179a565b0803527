import { VigilError } from '../shared/errors.js';

export interface MediaJobsOptions {
  /** Concurrent jobs (config `media.max_jobs`). */
  maxJobs: number;
  /** How long a job waits for a free slot before it is refused. */
  waitMs?: number;
  /** The `Retry-After` a refused client is given. */
  retryAfterSeconds?: number;
}

interface Waiter {
  grant(): void;
}

/**
 * Bounds the ffmpeg jobs that read footage for clients (clips and snapshots share it): at most
 * `maxJobs` run; the next ones wait in arrival order, up to `waitMs`, then are refused as
 * `unavailable` (503 with Retry-After). `stop()` aborts every running job and refuses the waiting.
 */
export class MediaJobs {
  readonly maxJobs: number;
  private readonly waitMs: number;
  private readonly retryAfterSeconds: number;
  private running = 0;
  private readonly queue: Waiter[] = [];
  private readonly shutdown = new AbortController();

  constructor(opts: MediaJobsOptions) {
    if (!Number.isInteger(opts.maxJobs) || opts.maxJobs < 1) throw new Error(`maxJobs must be a positive integer, got ${opts.maxJobs}`);
    this.maxJobs = opts.maxJobs;
    this.waitMs = opts.waitMs ?? 10_000;
    this.retryAfterSeconds = opts.retryAfterSeconds ?? 5;
  }

  get active(): number {
    return this.running;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Runs `fn` in a slot. Its signal aborts when `signal` does (the client went away) or at `stop()`;
   * the slot is freed when `fn` settles.
   */
  async run<T>(signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    await this.acquire(signal);
    try {
      const combined = signal ? AbortSignal.any([signal, this.shutdown.signal]) : this.shutdown.signal;
      combined.throwIfAborted();
      return await fn(combined);
    } finally {
      this.release();
    }
  }

  /** Aborts the running jobs and refuses every waiting and later one. */
  stop(): void {
    this.shutdown.abort(new VigilError('unavailable', 'Vigil is shutting down', { retryAfterSeconds: this.retryAfterSeconds }));
  }

  private acquire(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    this.shutdown.signal.throwIfAborted();
    if (this.running < this.maxJobs) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          cleanup();
          this.running++;
          resolve();
        },
      };
      const fail = (err: unknown) => {
        cleanup();
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(err);
      };
      const timer = setTimeout(
        () =>
          fail(
            new VigilError('unavailable', `all ${this.maxJobs} media jobs are busy; retry in ${this.retryAfterSeconds} s`, {
              retryAfterSeconds: this.retryAfterSeconds,
            }),
          ),
        this.waitMs,
      );
      const onAbort = () => fail(signal?.aborted ? signal.reason : this.shutdown.signal.reason);
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.shutdown.signal.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.shutdown.signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private release(): void {
    this.running--;
    const next = this.queue.shift();
    if (next) next.grant();
  }
}
