/**
 * The on-demand sub-stream of one camera: an ffmpeg (stream copy to live fMP4 on a pipe, no files)
 * that runs only while someone watches, restarts with backoff when it dies, and stops `lingerMs`
 * after the last viewer left (so a page reload does not reconnect to the camera).
 */
import type { Logger } from 'pino';
import { buildSubStreamArgs } from '../media/live-args.js';
import type { LiveStreamLauncher, LiveStreamProcess } from '../media/live-process.js';
import { Backoff } from '../shared/backoff.js';
import type { Clock } from '../shared/clock.js';
import { maskUrl, redactSecrets, urlSecrets } from '../shared/redact.js';
import { sleep } from '../shared/sleep.js';
import type { LiveChannel } from './live-channel.js';

export interface SubStreamDeps {
  clock: Clock;
  log: Logger;
  launcher: LiveStreamLauncher;
  ffmpegPath: string;
  rtspTimeoutSeconds: number;
  lingerMs: number;
}

const BACKOFF_INITIAL_MS = 1_000;
const BACKOFF_MAX_MS = 15_000;
const HEALTHY_RUN_MS = 30_000;

export class SubStream {
  private wanted = false;
  private closed = false;
  private abort: AbortController | undefined;
  private proc: LiveStreamProcess | undefined;
  private loopDone: Promise<void> | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** The channel's run while another process feeds it (the motion detector's ffmpeg on the same URL). */
  private feedRun: number | undefined;

  constructor(
    private url: string,
    readonly channel: LiveChannel,
    private readonly d: SubStreamDeps,
  ) {}

  /** The pid of the running ffmpeg, if one runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get currentUrl(): string {
    return this.url;
  }

  /** A viewer joined: make sure ffmpeg runs (and is not about to be stopped). */
  want(): void {
    if (this.closed) return;
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.wanted = true;
    this.ensureRunning();
  }

  /** The last viewer left: stop after the linger time unless someone comes back. */
  release(): void {
    if (this.closed) return;
    clearTimeout(this.lingerTimer);
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      this.wanted = false;
      void this.halt();
    }, this.d.lingerMs);
  }

  /** A new URL (camera edited): the running ffmpeg is replaced by one on the new URL. */
  setUrl(url: string): void {
    if (url === this.url) return;
    this.url = url;
    void this.proc?.kill();
  }

  /**
   * Another ffmpeg on this URL (the motion detector's) starts writing the stream for the viewers: one
   * camera session serves both. This one's own ffmpeg, if any, is stopped. Returns the feed's run token.
   */
  feedBegin(): number {
    const run = this.channel.begin();
    this.feedRun = run;
    if (this.loopDone) void this.halt();
    return run;
  }

  feedPush(run: number, chunk: Buffer): void {
    if (run === this.feedRun) this.channel.push(run, chunk);
  }

  /** The feed stopped (the detector restarts, or motion was turned off): watched, this starts its own ffmpeg. */
  feedEnd(run: number): void {
    if (run !== this.feedRun) return;
    this.feedRun = undefined;
    this.channel.end(run);
    if (this.wanted && !this.closed) this.ensureRunning();
  }

  /** Whether another process feeds the viewers now. */
  get fed(): boolean {
    return this.feedRun !== undefined;
  }

  /** For good (camera deleted or disabled, Vigil stopping); resolves when no ffmpeg is left. */
  async close(): Promise<void> {
    this.closed = true;
    this.wanted = false;
    clearTimeout(this.lingerTimer);
    await this.halt();
  }

  private async halt(): Promise<void> {
    this.abort?.abort();
    await this.proc?.kill();
    await this.loopDone;
  }

  private ensureRunning(): void {
    if (this.feedRun !== undefined) return; // fed by the detector's session
    if (this.loopDone) return; // running, or stopping: its end starts it again if still wanted
    const ac = new AbortController();
    this.abort = ac;
    this.loopDone = this.loop(ac.signal)
      .catch((err: unknown) => this.d.log.error({ err }, 'sub-stream loop failed'))
      .finally(() => {
        this.loopDone = undefined;
        if (this.wanted && !this.closed) this.ensureRunning();
      });
  }

  private async loop(signal: AbortSignal): Promise<void> {
    const { clock, log } = this.d;
    const backoff = new Backoff(BACKOFF_INITIAL_MS, BACKOFF_MAX_MS);
    while (!signal.aborted && this.feedRun === undefined) {
      const url = this.url;
      const startedMs = clock.nowMs();
      const run = this.channel.begin();
      const args = buildSubStreamArgs({ url, socketTimeoutSeconds: this.d.rtspTimeoutSeconds });
      const proc = this.d.launcher(this.d.ffmpegPath, args, (chunk) => this.channel.push(run, chunk));
      this.proc = proc;
      log.info({ pid: proc.pid, url: maskUrl(url) }, 'sub-stream started');
      if (signal.aborted) void proc.kill();
      const exit = await proc.exited;
      this.proc = undefined;
      this.channel.end(run);
      if (signal.aborted) break;
      const delayMs = url === this.url ? backoff.next(clock.nowMs() - startedMs, HEALTHY_RUN_MS) : 0;
      log.warn(
        { code: exit.code, signal: exit.signal, stderr: redactSecrets(exit.stderrTail, urlSecrets(url)).slice(-400), restartInMs: delayMs },
        'sub-stream ffmpeg exited',
      );
      await sleep(delayMs, signal);
    }
    log.info('sub-stream stopped');
  }
}
