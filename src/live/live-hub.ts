/**
 * Live view without a second camera connection: the recorder's ffmpeg feeds each camera's main
 * channel (LiveSink), the optional sub-stream runs its own ffmpeg only while watched, and viewers
 * join either. Cameras deleted or disabled lose their viewers (close code 4404).
 */
import type { Logger } from 'pino';
import type { CameraRow } from '../db/camera.repo.js';
import type { EventLog } from '../events/event-log.js';
import { spawnLiveStream, type LiveStreamLauncher } from '../media/live-process.js';
import type { LiveFeed, LiveSink } from '../recorder/camera-recorder.js';
import type { Clock } from '../shared/clock.js';
import { VigilError, notFound } from '../shared/errors.js';
import { DEFAULT_CHANNEL_OPTIONS, LIVE_CLOSE, LiveChannel, type LiveChannelOptions, type Viewer, type ViewerConnection } from './live-channel.js';
import { SubStream } from './sub-stream.js';

export type LiveStreamKind = 'main' | 'sub';

export interface LiveHubOptions extends LiveChannelOptions {
  /** How long a sub-stream ffmpeg outlives its last viewer. */
  subLingerMs: number;
}

export const DEFAULT_LIVE_OPTIONS: LiveHubOptions = { ...DEFAULT_CHANNEL_OPTIONS, subLingerMs: 5_000 };

export interface LiveHubDeps {
  clock: Clock;
  log: Logger;
  events: EventLog;
  /** The camera as the catalog has it now (undefined when deleted or unknown). */
  lookup(cameraId: string): Promise<CameraRow | undefined>;
  ffmpegPath: string;
  rtspTimeoutSeconds: number;
  launcher?: LiveStreamLauncher;
  options?: Partial<LiveHubOptions>;
}

export interface LiveStats {
  /** Viewers of the main and the sub stream. */
  viewers: number;
  /** Of the main stream (what the recorder receives), over the last few seconds. */
  bitrateBps: number | null;
  droppedFragments: number;
}

export class LiveHub implements LiveSink {
  private readonly main = new Map<string, LiveChannel>();
  private readonly subs = new Map<string, SubStream>();
  private readonly options: LiveHubOptions;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly d: LiveHubDeps) {
    this.options = { ...DEFAULT_LIVE_OPTIONS, ...d.options };
  }

  /** Follows camera changes (delete, disable, sub_url) through the event bus. */
  start(): void {
    this.unsubscribe ??= this.d.events.subscribe((e) => {
      if (!e.cameraId || (e.type !== 'camera_deleted' && e.type !== 'camera_updated')) return;
      this.reconcile(e.cameraId).catch((err: unknown) => this.d.log.error({ err, cameraId: e.cameraId }, 'live: camera change failed'));
    });
  }

  /** Every viewer is closed (1001) and every sub-stream ffmpeg is gone when this resolves. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    for (const ch of this.main.values()) ch.closeAll(LIVE_CLOSE.shutdown, 'Vigil is stopping');
    const subs = [...this.subs.values()];
    this.subs.clear();
    for (const s of subs) s.channel.closeAll(LIVE_CLOSE.shutdown, 'Vigil is stopping');
    await Promise.all(subs.map((s) => s.close()));
  }

  open(cameraId: string): LiveFeed {
    const ch = this.mainChannel(cameraId);
    const run = ch.begin();
    return { push: (chunk) => ch.push(run, chunk), end: () => ch.end(run) };
  }

  /** Throws the error a viewer of `stream` must get before any upgrade: unknown camera, disabled, no sub-stream. */
  async check(cameraId: string, stream: LiveStreamKind): Promise<CameraRow> {
    const cam = await this.d.lookup(cameraId);
    if (!cam) throw notFound(`camera "${cameraId}" not found`, 'id');
    if (stream === 'sub' && cam.subUrl === null) throw notFound(`camera "${cameraId}" has no sub-stream`, 'stream');
    if (!cam.enabled) throw new VigilError('failed_precondition', `camera "${cameraId}" is disabled`, { field: 'id' });
    return cam;
  }

  /** Adds a viewer; returns what removes it. Throws like `check` when the camera went away meanwhile. */
  async join(cameraId: string, stream: LiveStreamKind, conn: ViewerConnection): Promise<() => void> {
    const cam = await this.check(cameraId, stream);
    if (this.stopped) throw new VigilError('unavailable', 'Vigil is stopping');
    if (stream === 'main') {
      const ch = this.mainChannel(cameraId);
      const v = ch.add(conn);
      return () => this.leave(ch, v);
    }
    const sub = this.subStream(cam);
    const v = sub.channel.add(conn);
    sub.want();
    return () => {
      this.leave(sub.channel, v);
      if (sub.channel.viewerCount === 0) sub.release();
    };
  }

  stats(cameraId: string): LiveStats {
    const m = this.main.get(cameraId)?.stats();
    const s = this.subs.get(cameraId)?.channel.stats();
    return {
      viewers: (m?.viewers ?? 0) + (s?.viewers ?? 0),
      bitrateBps: m?.bitrateBps ?? null,
      droppedFragments: (m?.droppedFragments ?? 0) + (s?.droppedFragments ?? 0),
    };
  }

  /** The viewers of one stream (their phase, drops and peak buffered bytes), for diagnostics and tests. */
  viewers(cameraId: string, stream: LiveStreamKind): readonly Viewer[] {
    const ch = stream === 'main' ? this.main.get(cameraId) : this.subs.get(cameraId)?.channel;
    return ch?.viewerList() ?? [];
  }

  /** The pid of the sub-stream ffmpeg of `cameraId`, while one runs. */
  subStreamPid(cameraId: string): number | undefined {
    return this.subs.get(cameraId)?.pid;
  }

  private leave(ch: LiveChannel, v: Viewer): void {
    ch.remove(v);
    if (v.dropped > 0) this.d.log.info({ cameraId: ch.cameraId, stream: ch.stream, droppedFragments: v.dropped }, 'live viewer left after dropping fragments');
  }

  private mainChannel(cameraId: string): LiveChannel {
    let ch = this.main.get(cameraId);
    if (!ch) {
      ch = new LiveChannel(cameraId, 'main', this.channelDeps(cameraId, 'main'));
      this.main.set(cameraId, ch);
    }
    return ch;
  }

  private subStream(cam: CameraRow): SubStream {
    let sub = this.subs.get(cam.id);
    if (!sub) {
      const channel = new LiveChannel(cam.id, 'sub', this.channelDeps(cam.id, 'sub'));
      sub = new SubStream(cam.subUrl as string, channel, {
        clock: this.d.clock,
        log: this.d.log.child({ cameraId: cam.id, stream: 'sub' }),
        launcher: this.d.launcher ?? spawnLiveStream,
        ffmpegPath: this.d.ffmpegPath,
        rtspTimeoutSeconds: this.d.rtspTimeoutSeconds,
        lingerMs: this.options.subLingerMs,
      });
      this.subs.set(cam.id, sub);
    }
    return sub;
  }

  private channelDeps(cameraId: string, stream: LiveStreamKind) {
    return { clock: this.d.clock, log: this.d.log.child({ cameraId, stream }), options: this.options };
  }

  /** A camera changed: viewers of a deleted or disabled camera are closed; a sub-stream follows its URL. */
  private async reconcile(cameraId: string): Promise<void> {
    const cam = await this.d.lookup(cameraId);
    const sub = this.subs.get(cameraId);
    if (!cam || !cam.enabled) {
      const reason = cam ? 'camera disabled' : 'camera deleted';
      this.main.get(cameraId)?.closeAll(LIVE_CLOSE.gone, reason);
      // A camera created again under this id gets a fresh channel from its new recorder.
      if (!cam) this.main.delete(cameraId);
      if (sub) {
        this.subs.delete(cameraId);
        sub.channel.closeAll(LIVE_CLOSE.gone, reason);
        await sub.close();
      }
      return;
    }
    if (!sub) return;
    if (cam.subUrl === null) {
      this.subs.delete(cameraId);
      sub.channel.closeAll(LIVE_CLOSE.gone, 'sub-stream removed');
      await sub.close();
    } else {
      sub.setUrl(cam.subUrl);
    }
  }
}
