/**
 * Live view without a second camera connection: a camera's main stream is read from the segment
 * files its recorder writes (a SegmentFollower, only while someone watches: nothing is read for a
 * camera nobody watches), the optional sub-stream runs its own ffmpeg only while watched, and viewers
 * join either. The recorder tells the hub of its runs and closed segments (LiveSink), so the follower
 * knows which file comes next without looking at the folder. Cameras deleted or disabled lose their
 * viewers (close code 4404).
 */
import type { FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { CameraRow } from '../db/camera.repo.js';
import type { EventLog } from '../events/event-log.js';
import { spawnLiveStream, type LiveStreamLauncher } from '../media/live-process.js';
import type { LiveRun, LiveSink } from '../recorder/camera-recorder.js';
import type { Clock } from '../shared/clock.js';
import { VigilError, notFound } from '../shared/errors.js';
import { DEFAULT_CHANNEL_OPTIONS, LIVE_CLOSE, LiveChannel, type LiveChannelOptions, type Viewer, type ViewerConnection } from './live-channel.js';
import { SegmentFollower, type RunFiles } from './segment-follower.js';
import { SubStream } from './sub-stream.js';

export type LiveStreamKind = 'main' | 'sub';

export interface LiveHubOptions extends LiveChannelOptions {
  /** How long a sub-stream ffmpeg outlives its last viewer. */
  subLingerMs: number;
  /**
   * How often a watched camera's open segment file is looked at for new fragments (one fstat when
   * nothing changed); a fragment reaches viewers at most this much after ffmpeg flushed it.
   */
  followPollMs: number;
}

export const DEFAULT_LIVE_OPTIONS: LiveHubOptions = { ...DEFAULT_CHANNEL_OPTIONS, subLingerMs: 5_000, followPollMs: 50 };

export interface LiveHubDeps {
  clock: Clock;
  log: Logger;
  events: EventLog;
  /** The camera as the catalog has it now (undefined when deleted or unknown). */
  lookup(cameraId: string): Promise<CameraRow | undefined>;
  /** Opens a segment file the recorder may still be writing, for reading (the footage store's `openGrowing`). */
  openSegment(absPath: string): Promise<FileHandle>;
  ffmpegPath: string;
  rtspTimeoutSeconds: number;
  launcher?: LiveStreamLauncher;
  options?: Partial<LiveHubOptions>;
}

export interface LiveStats {
  /** Viewers of the main and the sub stream. */
  viewers: number;
  /** Of the main stream as read for its viewers, over the last few seconds; null while nobody watches. */
  bitrateBps: number | null;
  droppedFragments: number;
}

/** A camera's current recorder run, as the recorder reported it. */
interface RunState {
  files: RunFiles;
  /** The highest file number ffmpeg listed as closed (-1: none yet). */
  closedThrough: number;
  /** Reading the run for the viewers; undefined while nobody watches. */
  follower: SegmentFollower | undefined;
}

/** Another process's live fMP4 output of a camera's sub-stream, per run: begin, its bytes, end. */
export interface SubFeed {
  begin(): void;
  push(chunk: Buffer): void;
  end(): void;
}

export class LiveHub implements LiveSink {
  private readonly main = new Map<string, LiveChannel>();
  private readonly runs = new Map<string, RunState>();
  /** Every follower not yet done (stopping ones too): stop() waits for their file handles to close. */
  private readonly followers = new Set<SegmentFollower>();
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
    for (const run of this.runs.values()) run.follower = undefined;
    await Promise.all([...this.followers].map((f) => f.stop()));
    const subs = [...this.subs.values()];
    this.subs.clear();
    for (const s of subs) s.channel.closeAll(LIVE_CLOSE.shutdown, 'Vigil is stopping');
    await Promise.all(subs.map((s) => s.close()));
  }

  runStarted(cameraId: string, files: Pick<RunFiles, 'pathOf' | 'startMsOf'>): LiveRun {
    let lastClosed: { seq: number; path: string } | undefined;
    const run: RunState = {
      files: {
        pathOf: (seq) => files.pathOf(seq),
        closedPathOf: (seq) => (lastClosed?.seq === seq ? lastClosed.path : undefined),
        startMsOf: (seq) => files.startMsOf?.(seq),
      },
      closedThrough: -1,
      follower: undefined,
    };
    const previous = this.runs.get(cameraId);
    if (previous) this.runEnded(cameraId, previous);
    this.runs.set(cameraId, run);
    if (!this.stopped && (this.main.get(cameraId)?.viewerCount ?? 0) > 0) this.follow(cameraId, run);
    return {
      segmentClosed: (seq, closedPath) => {
        if (closedPath !== undefined) lastClosed = { seq, path: closedPath };
        if (seq > run.closedThrough) run.closedThrough = seq;
        run.follower?.segmentClosed(seq);
      },
      end: () => this.runEnded(cameraId, run),
    };
  }

  /** The open file handles of the main streams' followers (one per watched camera at most): for tests. */
  followerCount(): number {
    return this.followers.size;
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
      const run = this.runs.get(cameraId);
      // The first viewer starts the reading; it joins once the init and latest keyframe are in (from disk: at once).
      if (run) await (run.follower ?? this.follow(cameraId, run)).ready;
      const v = ch.add(conn);
      return () => {
        this.leave(ch, v);
        if (ch.viewerCount === 0) this.unfollow(cameraId);
      };
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

  /** Starts reading `run` for the viewers of `cameraId`'s main stream. */
  private follow(cameraId: string, run: RunState): SegmentFollower {
    const ch = this.mainChannel(cameraId);
    const token = ch.begin();
    const follower = new SegmentFollower(run.files, run.closedThrough + 1, {
      open: this.d.openSegment,
      onChunk: (c, backlog) => ch.pushChunk(token, c, backlog),
      onEnd: () => {
        this.followers.delete(follower);
        if (run.follower === follower) run.follower = undefined;
        // Viewers are told the stream stopped; a follower stopped for want of viewers tells no one.
        ch.end(token);
      },
      log: this.d.log.child({ cameraId, stream: 'main' }),
      pollMs: this.options.followPollMs,
    });
    run.follower = follower;
    this.followers.add(follower);
    return follower;
  }

  /** The last viewer left: the follower closes its file (a joiner meanwhile starts a new one). */
  private unfollow(cameraId: string): void {
    const run = this.runs.get(cameraId);
    const follower = run?.follower;
    if (!run || !follower) return;
    run.follower = undefined;
    void follower.stop();
  }

  private runEnded(cameraId: string, run: RunState): void {
    if (this.runs.get(cameraId) === run) this.runs.delete(cameraId);
    // What the run wrote is read to its end, then the viewers hear it went offline.
    run.follower?.runEnd();
    run.follower = undefined;
  }

  private mainChannel(cameraId: string): LiveChannel {
    let ch = this.main.get(cameraId);
    if (!ch) {
      ch = new LiveChannel(cameraId, 'main', this.channelDeps(cameraId, 'main'));
      this.main.set(cameraId, ch);
    }
    return ch;
  }

  /**
   * A feed of camera `cameraId`'s sub-stream from another process on `url` (the motion detector's ffmpeg,
   * which reads the sub-stream anyway): its viewers are served from that one camera session. While it
   * feeds, the sub-stream starts no ffmpeg of its own; when it ends, a watched sub-stream starts one.
   */
  subFeed(cameraId: string, url: string): SubFeed {
    let cur: { sub: SubStream; run: number } | undefined;
    return {
      begin: () => {
        cur = undefined;
        if (this.stopped) return;
        const sub = this.subStream({ id: cameraId, subUrl: url });
        // The camera's sub-stream moved to another URL: the detector restarts on it soon.
        if (sub.currentUrl !== url) return;
        cur = { sub, run: sub.feedBegin() };
      },
      push: (chunk) => cur?.sub.feedPush(cur.run, chunk),
      end: () => {
        cur?.sub.feedEnd(cur.run);
        cur = undefined;
      },
    };
  }

  private subStream(cam: Pick<CameraRow, 'id' | 'subUrl'>): SubStream {
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
      this.unfollow(cameraId);
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
