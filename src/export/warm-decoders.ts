import type { Logger } from 'pino';
import type { WarmDecoderProcess } from '../media/warm-decoder.js';
import type { Clock } from '../shared/clock.js';

export interface WarmDecoderPoolOptions {
  /** Decoders kept idle (config `media.warm_decoders`); 0 disables the pool. */
  size: number;
  /** Starts one decoder (request-independent argv). */
  spawn: () => WarmDecoderProcess;
  log: Logger;
  clock: Clock;
  /** Delay before replacing a decoder that died while idle: doubles from the first to the last. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** A decoder that lived this long before dying resets the backoff. */
  healthyMs?: number;
}

/**
 * Keeps `size` ffmpeg decoders started and idle, so a snapshot does not pay ffmpeg's start-up
 * (150–200 ms for a Debian ffmpeg and its 215 shared libraries). `take()` hands one out (the
 * caller owns it from then on and must see it exit or kill it); its replacement starts once the
 * request has written its input (or the decoder has exited): starting a child holds Node's event loop
 * for 10–40 ms (more while other ffmpegs start), which at once delayed that very input; later (at the
 * exit) left the next request a decoder still loading its libraries.
 * A decoder that dies while idle is replaced after a backoff; `stop()` kills the idle ones.
 */
export class WarmDecoderPool {
  private readonly idle = new Set<WarmDecoderProcess>();
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly healthyMs: number;
  private nextDelayMs: number;
  private retry: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly o: WarmDecoderPoolOptions) {
    if (!Number.isInteger(o.size) || o.size < 0) throw new Error(`warm decoder count must be a non-negative integer, got ${o.size}`);
    this.initialMs = o.backoffInitialMs ?? 500;
    this.maxMs = o.backoffMaxMs ?? 60_000;
    this.healthyMs = o.healthyMs ?? 60_000;
    this.nextDelayMs = this.initialMs;
  }

  /** Decoders idle right now. */
  get idleCount(): number {
    return this.idle.size;
  }

  start(): void {
    this.running = true;
    this.fill();
  }

  /** An idle decoder, or undefined when none is (the caller decodes the cold way). */
  take(): WarmDecoderProcess | undefined {
    const [proc] = this.idle;
    if (!proc) return undefined;
    this.idle.delete(proc);
    let replaced = false;
    const replace = () => {
      if (replaced) return;
      replaced = true;
      // In a turn of its own, after the callbacks of the moment (the input's last write, the answer).
      setImmediate(() => this.fill());
    };
    proc.stdin.once('finish', replace);
    void proc.exited.then(replace);
    return proc;
  }

  /** Kills every idle decoder (and awaits them: no zombie); a decoder in use belongs to its request. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.retry);
    this.retry = undefined;
    const procs = [...this.idle];
    this.idle.clear();
    await Promise.all(procs.map((p) => p.kill()));
  }

  private fill(): void {
    while (this.running && this.retry === undefined && this.idle.size < this.o.size) this.spawnOne();
  }

  private spawnOne(): void {
    const bornMs = this.o.clock.nowMs();
    const proc = this.o.spawn();
    this.idle.add(proc);
    void proc.exited.then((exit) => {
      // Taken decoders exit when their request is done; only a death while idle is a failure.
      if (!this.idle.delete(proc) || !this.running) return;
      if (this.o.clock.nowMs() - bornMs >= this.healthyMs) this.nextDelayMs = this.initialMs;
      const delayMs = this.nextDelayMs;
      this.nextDelayMs = Math.min(this.nextDelayMs * 2, this.maxMs);
      this.o.log.warn({ code: exit.code, signal: exit.signal, stderr: exit.stderrTail, retryInMs: delayMs }, 'idle snapshot decoder exited; replacing it');
      if (this.retry !== undefined) return;
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.fill();
      }, delayMs);
      this.retry.unref();
    });
  }
}
