/**
 * The motion detector of one camera: a supervised ffmpeg decoding the camera's sub-stream (else its
 * main stream) to small pictures at a low rate, a Detector comparing them, and a MotionTracker turning
 * detections into intervals. Restarted with backoff when ffmpeg dies or the pictures stop; it has its own
 * RTSP session and never touches the recorder's (invariant 13: watching never costs recording). On the
 * sub-stream that session also carries the sub-stream's live view (a stream-copy output on fd 3), so the
 * camera serves one session for both.
 */
import type { Logger } from 'pino';
import { buildMotionArgs, MOTION_HEIGHT, MOTION_WIDTH, yuv420pBytes } from '../media/motion-args.js';
import type { LiveStreamLauncher, LiveStreamProcess } from '../media/live-process.js';
import { Backoff } from '../shared/backoff.js';
import type { MotionConfig } from '../shared/camera-settings.js';
import type { Clock } from '../shared/clock.js';
import { maskUrl, redactSecrets, urlSecrets } from '../shared/redact.js';
import { sleep } from '../shared/sleep.js';
import type { Detector } from './detector.js';
import { MotionDetector } from './motion-detector.js';
import { MotionTracker, type MotionInterval } from './motion-tracker.js';
import { FrameSplitter } from './frame-splitter.js';

/** What an operator reads: off, starting (connecting or restarting), watching (no motion now), motion, error (restarting after a failure). */
export type MotionState = 'off' | 'starting' | 'watching' | 'motion' | 'error';

export interface MotionWatchDeps {
  clock: Clock;
  log: Logger;
  launcher: LiveStreamLauncher;
  ffmpegPath: string;
  rtspTimeoutSeconds: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** No picture for this long: the stream is stuck; ffmpeg is killed and restarted. */
  stallMs: number;
}

/** The sub-stream's live viewers, fed from the detector's own session (see LiveHub.subFeed). */
export interface MotionLiveFeed {
  begin(): void;
  push(chunk: Buffer): void;
  end(): void;
}

export interface MotionWatchEvents {
  started(cameraId: string, atMs: number, zones: string[]): void;
  /** `peakFrame`: the raw yuv420p picture at the peak (MOTION_WIDTH × MOTION_HEIGHT). */
  ended(cameraId: string, interval: MotionInterval, peakFrame: Uint8Array): void;
  state(cameraId: string, state: MotionState, detail: string | null): void;
}

/** A run this long counts as healthy: the next failure starts the backoff from its first step. */
const HEALTHY_RUN_MS = 60_000;

export class MotionWatch {
  private abort = new AbortController();
  private proc: LiveStreamProcess | undefined;
  private loop: Promise<void> | undefined;
  private readonly detector: Detector;
  private readonly tracker: MotionTracker;
  private readonly frameBytes = yuv420pBytes(MOTION_WIDTH, MOTION_HEIGHT);
  private readonly peak: Uint8Array;
  private stateNow: MotionState = 'off';
  private lastFrameAtMs = 0;

  constructor(
    readonly cameraId: string,
    readonly url: string,
    readonly settings: MotionConfig,
    private readonly d: MotionWatchDeps,
    private readonly on: MotionWatchEvents,
    /** When the detector reads the camera's sub-stream: its viewers are served from this session too. */
    private readonly feed?: MotionLiveFeed,
  ) {
    this.detector = new MotionDetector({
      sensitivity: settings.sensitivity,
      minAreaPercent: settings.minAreaPercent,
      masks: settings.masks,
      zones: settings.zones,
    });
    this.tracker = new MotionTracker({ postRollMs: settings.postRollSeconds * 1000 });
    this.peak = new Uint8Array(this.frameBytes);
  }

  get state(): MotionState {
    return this.stateNow;
  }

  /** The pid of the running ffmpeg, if one runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops for good: an open interval is closed now (and reported), ffmpeg is gone when this resolves. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.proc?.kill();
    await this.loop;
    this.closeOpen(this.d.clock.nowMs());
    this.setState('off', null);
  }

  private async run(): Promise<void> {
    const backoff = new Backoff(this.d.backoffInitialMs, this.d.backoffMaxMs);
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const startedAt = this.d.clock.nowMs();
      const failure = await this.runOnce();
      if (signal.aborted) return;
      // Pictures stopped: whatever moved is over as far as anyone can tell.
      this.closeOpen(this.lastFrameAtMs || this.d.clock.nowMs());
      this.detector.reset();
      const delay = backoff.next(this.d.clock.nowMs() - startedAt, HEALTHY_RUN_MS);
      this.setState('error', failure);
      this.d.log.warn({ cameraId: this.cameraId, reason: failure, retryInMs: delay }, 'motion detector stopped; restarting');
      await sleep(delay, signal);
    }
  }

  /** One ffmpeg run; resolves with why it ended. */
  private async runOnce(): Promise<string> {
    this.setState('starting', null);
    const splitter = new FrameSplitter(this.frameBytes);
    let failure: string | undefined;
    const feed = this.feed;
    // The run's stream output (stream copy) starts with its own init: the viewers' run starts with it.
    feed?.begin();
    const proc = this.d.launcher(
      this.d.ffmpegPath,
      buildMotionArgs({ url: this.url, socketTimeoutSeconds: this.d.rtspTimeoutSeconds, fps: this.settings.fps, ...(feed ? { liveFd: 3 } : {}) }),
      (chunk) => {
        try {
          splitter.push(chunk, (frame) => this.onFrame(frame));
        } catch (err) {
          // A detector fault must not leave ffmpeg running unwatched: end this run, restart with backoff.
          failure ??= `detector failed: ${(err as Error).message}`;
          void proc.kill();
        }
      },
      feed ? (chunk) => feed.push(chunk) : undefined,
    );
    this.proc = proc;
    this.lastFrameAtMs = 0;
    const startedAt = this.d.clock.nowMs();
    // A stream that connects but sends no picture (or stops sending) is killed and restarted.
    const watchdog = setInterval(() => {
      const since = this.lastFrameAtMs || startedAt;
      if (this.d.clock.nowMs() - since > this.d.stallMs) {
        failure ??= `no picture for ${Math.round((this.d.clock.nowMs() - since) / 1000)} s`;
        void proc.kill();
      }
    }, 1000);
    try {
      const exit = await proc.exited;
      if (this.abort.signal.aborted) return 'stopped';
      const secrets = urlSecrets(this.url);
      const said = redactSecrets(exit.stderrTail.trim().split('\n').filter(Boolean).at(-1) ?? '', secrets);
      return failure ?? `ffmpeg exited (${exit.signal ?? `code ${exit.code}`})${said ? `: ${said}` : ''} reading ${maskUrl(this.url)}`;
    } finally {
      clearInterval(watchdog);
      this.proc = undefined;
      // Its viewers go back to a session of their own (after a short interruption) until the next run.
      feed?.end();
    }
  }

  private onFrame(frame: Uint8Array): void {
    const atMs = this.d.clock.nowMs();
    this.lastFrameAtMs = atMs;
    const luma = frame.subarray(0, MOTION_WIDTH * MOTION_HEIGHT);
    const detection = this.detector.detect({ width: MOTION_WIDTH, height: MOTION_HEIGHT, luma, atMs });
    const step = this.tracker.push(detection);
    // An interval split at its longest length ends and the next one peaks in the same step: the ended
    // one takes the peak frame it had, before this frame becomes the new one's.
    if (step.ended) this.on.ended(this.cameraId, step.ended, this.peak.slice());
    if (step.peak) this.peak.set(frame);
    if (step.started) {
      this.setState('motion', null);
      this.on.started(this.cameraId, step.started.startMs, step.started.zones);
    } else if (!this.tracker.open && this.stateNow !== 'watching') {
      this.setState('watching', null);
    }
  }

  private closeOpen(atMs: number): void {
    const interval = this.tracker.flush(atMs);
    if (interval) this.on.ended(this.cameraId, interval, this.peak.slice());
  }

  private setState(state: MotionState, detail: string | null): void {
    if (state === this.stateNow && detail === null) return;
    this.stateNow = state;
    this.on.state(this.cameraId, state, detail);
  }
}
