import type { Logger } from 'pino';
import type { RecorderConfig } from '../config/config.js';
import type { Db } from '../db/connection.js';
import { bumpReconnect, setRunning, setState, setStopped } from '../db/camera-status.repo.js';
import type { CameraRow } from '../db/camera.repo.js';
import type { EventLog } from '../events/event-log.js';
import type { Indexer } from '../indexer/indexer.service.js';
import { UnindexedFiles, type UnindexedFile } from './unindexed-files.js';
import { reconcileCamera } from '../indexer/reconcile.js';
import type { Fence } from '../db/cluster.repo.js';
import type { ExitInfo, RecorderLauncher, RecorderProcess } from '../media/ffmpeg-process.js';
import { AUD_FILTER_FAILED, buildRecorderArgs, nextAudioAfterRefusal, type RecorderAudio, type SegmentListEntry } from '../media/recorder-args.js';
import { OPEN_SEGMENT_NAME_PATTERN, openSegmentFileName, openSegmentNamePattern, segmentFileName } from '../storage/segment-names.js';
import type { Clock } from '../shared/clock.js';
import { maskUrl, redactSecrets, urlSecrets } from '../shared/redact.js';
import { quarterSecondTick } from '../shared/shared-tick.js';
import { sleep } from '../shared/sleep.js';
import { errorMessage } from '../shared/errors.js';
import { MediaClock, type ClockJump } from './media-clock.js';
import type { MediaTimeJump } from '../media/fmp4/time-jump.js';
import { Backoff } from '../shared/backoff.js';
import { reasonAndTail } from './last-error.js';
import { spawnTurn } from './spawn-turns.js';
import { isNoSpace, NO_SPACE_REASON } from '../media/no-space.js';
import { QUICK_PROBE_FAILED } from '../media/ffmpeg-common-args.js';
import { codecFamily, HVC1_TAG_REFUSED, rewriteHev1AsHvc1, videoCodecOfFile, type VideoCodecFamily } from '../media/video-codec.js';
import { lastSegment } from '../db/segment.repo.js';
import type { RecordingsSpace } from './recordings-space.js';
import { join } from 'node:path';

export interface CameraRecorderDeps {
  db: Db;
  clock: Clock;
  events: EventLog;
  indexer: Indexer;
  launcher: RecorderLauncher;
  config: RecorderConfig;
  log: Logger;
  /** Told of each run's files as they are written and closed (the live view reads them while watched). */
  live?: LiveSink;
  /** Told when ffmpeg fails for lack of disk space; the recorder waits on it for room before restarting. */
  space?: RecordingsSpace;
  /** Every run id this process started (start-up reconciliation leaves their files alone). */
  ownRuns?: Set<string>;
  /**
   * Indexing of the camera's files a crash left (start-up reconciliation): queued before the first run's
   * rows, so they go in in time order, while ffmpeg already records.
   */
  firstIndexJob?: (cameraId: string) => Promise<unknown>;
}

/**
 * Told where each recorder run writes and when each of its files closes: the live view follows the
 * file being written and moves to the next one when told, with no second ffmpeg output and nothing
 * read while nobody watches. Implementations must never throw nor block.
 */
export interface LiveSink {
  /** A new ffmpeg run of `cameraId` starts writing file 0 of `files` (a fresh init segment). */
  runStarted(cameraId: string, files: { pathOf(seq: number): string; startMsOf?(seq: number): number | undefined }): LiveRun;
}

export interface LiveRun {
  /** ffmpeg listed file `seq` as closed (the indexer renames it to `closedPath`): it writes file `seq + 1` now. */
  segmentClosed(seq: number, closedPath?: string): void;
  /** The run's process is gone and its segment list read. */
  end(): void;
}

/**
 * Before its first video a run may also spend ffmpeg's stream analysis (its default analyzeduration,
 * 5 s, when a camera's SDP lacks the stream's parameters) on top of the RTSP timeout.
 */
const PROBE_ALLOWANCE_SECONDS = 5;
/** The watchdogs of every camera's run look at the same ticks of one timer (see SharedTick). */
const watchTick = quarterSecondTick;
/** How often a run's watchdogs look (the silence watch's resolution). */
const WATCH_EVERY_MS = watchTick.everyMs;
/**
 * A watchdog tick this much later than due means the event loop was held (a long synchronous task, a
 * stopped or swapped-out process). Timers run before pending I/O when the loop resumes, so ffmpeg's
 * segment lines of that time are still unread (its progress file is read in the tick itself, but a
 * launcher may report through a pipe): the tick passes and the next one judges.
 */
const HELD_LOOP_MS = 1000;
/**
 * Connected, but the media time has not advanced for this long: the camera is `stalled` at once (state
 * and event) while ffmpeg runs on, so nobody takes a frozen picture for live. ffmpeg's `out_time`
 * advances with each muxed frame, not each keyframe, so one floor serves any GOP; the silence watch
 * (`freeze_seconds`) still decides when the run is stopped.
 */
export const STALL_NOTICE_MS = 3000;

/** A run ended by the silence watch. */
interface Silence {
  silentMs: number;
  /** Whether the run had received any video before falling silent. */
  hadVideo: boolean;
  lastVideoAtMs: number | undefined;
  /** The limit that was passed: `freeze_seconds` mid-run, `rtsp_timeout_seconds` before any video. */
  limitSeconds: number;
}

interface RunOutcome {
  exit: ExitInfo;
  /** Milliseconds without a new segment, when the stall watch killed the run; else 0. */
  stalled: number;
  silent: Silence | undefined;
  /** The camera's media clock went back: the run was stopped so the next one starts a fresh clock. */
  clockBack?: ClockJump;
  /**
   * The run wrote another codec than its argv was made for (the camera sends H.265 where H.264 was
   * assumed, or the reverse): stopped, or refused by ffmpeg, so the next run writes the right entry.
   */
  codecChange?: { from: VideoCodecFamily | undefined; to: VideoCodecFamily };
}

/** How many progress reports a run's first file is looked at for its init before the check gives up. */
const CODEC_CHECK_TRIES = 20;

/** Within a run, a segment starting this close to where the previous one ended is snapped to it. */
const SNAP_MS = 250;
/**
 * Media times (s) of a file's end and the next file's start this close are one instant: the segment
 * list prints them with %f, and ffmpeg ends a file at its last frame's timestamp plus the nominal frame
 * duration while the next starts at the keyframe's own, so a camera whose timestamps jitter by a 90 kHz
 * tick makes them differ by 0.000011 s. Such a file starts where the previous one ended (placed apart,
 * the two rows' rounding left a 1 ms hole or overlap between them).
 */
const SAME_INSTANT_SECONDS = 0.02;
/** How long a run's end waits for its rows before the next run may start (they are written meanwhile). */
const RUN_END_INDEX_WAIT_MS = 10_000;
/** With the disk still full, ffmpeg is tried again this often anyway (the space report could be wrong). */
const NO_SPACE_RETRY_MS = 60_000;

/**
 * Supervises the ffmpeg that records one camera: start, watch (segments, progress, stalls), restart
 * with backoff, stop cleanly. Every event it emits carries a NULL request id: it acts on its own.
 */
export class CameraRecorder {
  private readonly abort = new AbortController();
  private proc: RecorderProcess | undefined;
  private loopDone: Promise<void> | undefined;
  /**
   * The camera's indexing, in order, one file at a time, across runs: a run's end-of-run reconciliation
   * queues behind its last rows, and a next run's rows behind that. A row the catalog cannot take yet
   * (its disk full) is retried there without holding up the next run's ffmpeg.
   */
  private indexQueue: Promise<unknown> = Promise.resolve();
  private readonly log: Logger;
  private readonly secrets: string[];
  /**
   * Runs start with a quick probe (time truth: output from the first frame, placed from the start)
   * until one fails for want of the stream's parameters, then with ffmpeg's full analysis.
   */
  private fullProbe = false;
  /** Access unit delimiters are dropped (recorder-args' audFilter) until a run fails on the filter. */
  private dropAud = true;
  /**
   * The camera's audio in the next run (`audio: auto` starts with a stream copy, `off` never records
   * it): a run the MP4 muxer refused the copy of goes on with a transcode to AAC, one whose transcode
   * failed with video only (`nextAudioAfterRefusal`). Audio that breaks mid-run never ends a run.
   */
  private audio: RecorderAudio;
  /**
   * The codec the camera sends (docs/design.md, "H.265"): from the camera's newest row at the first run,
   * then from each run's first file; undefined until known (H.264 is assumed: no tag).
   */
  private videoCodec: VideoCodecFamily | undefined;
  private codecLooked = false;
  /** Wall-clock time of the newest frame received, across runs (from the run's time mapping). */
  private lastFrameMs: number | undefined;
  /** Set while the running ffmpeg is connected but its media time stands still (STALL_NOTICE_MS). */
  private stalledSinceMs: number | undefined;
  /** Files with footage but no row yet (the open one, closed ones queued for indexing): reviewable now. */
  private readonly unindexed = new UnindexedFiles();
  /** Stopped because another cluster node takes the camera over: its status row is that node's to write. */
  private handedOff = false;
  private launched!: () => void;
  private readonly firstLaunched = new Promise<void>((resolve) => (this.launched = resolve));

  constructor(
    readonly camera: CameraRow,
    private readonly d: CameraRecorderDeps,
    /** The camera's lease in a cluster: every row of this recorder is written under it (invariant 14). */
    readonly fence?: Fence,
  ) {
    this.log = d.log.child({ cameraId: camera.id });
    this.secrets = urlSecrets(camera.mainUrl);
    this.audio = camera.audio === 'off' ? 'off' : 'copy';
  }

  /** Files with footage and no catalog row yet, oldest first (see UnindexedFiles). */
  unindexedFiles(): UnindexedFile[] {
    return this.unindexed.list();
  }

  start(): void {
    if (!this.loopDone && this.d.firstIndexJob) {
      const job = this.d.firstIndexJob;
      void this.queueIndexing(() => job(this.camera.id).catch((err: unknown) => this.log.error({ err }, 'start-up reconciliation failed')));
    }
    this.loopDone ??= this.loop()
      .catch((err: unknown) => this.log.error({ err }, 'recorder loop failed'))
      .finally(() => this.launched());
  }

  /** Resolves once this recorder's first ffmpeg is spawned, or its loop ended without one. */
  get firstLaunch(): Promise<void> {
    return this.firstLaunched;
  }

  /** Graceful: ffmpeg gets SIGINT, closes and lists its last segment, which is indexed before this resolves. */
  /**
   * Stops ffmpeg gracefully; resolves once the last segment is indexed. `handedOff`: another node
   * records the camera now (cluster), so the shared status row is left to it.
   */
  async stop(opts: { handedOff?: boolean } = {}): Promise<void> {
    if (opts.handedOff) this.handedOff = true;
    this.abort.abort();
    await this.proc?.stop(this.d.config.stopTimeoutMs);
    await this.loopDone;
    await this.indexQueue;
  }

  /** What the status shows beside the stored state: the newest frame's time and whether media stands still. */
  frames(): { lastFrameAtMs: number | undefined; stalled: boolean } {
    return { lastFrameAtMs: this.lastFrameMs, stalled: this.stalledSinceMs !== undefined };
  }

  private redact(text: string): string {
    return redactSecrets(text, this.secrets);
  }

  private async loop(): Promise<void> {
    const { config, clock } = this.d;
    const backoff = new Backoff(config.backoffInitialMs, config.backoffMaxMs);
    const signal = this.abort.signal;
    const outputDir = await this.d.indexer.store.ensureCameraDir(this.camera.id);
    while (!signal.aborted) {
      const startedAtMs = clock.nowMs();
      let outcome: RunOutcome;
      try {
        if (!this.codecLooked) {
          this.codecLooked = true;
          this.videoCodec = codecFamily((await lastSegment(this.d.db, this.camera.id))?.codec);
        }
        const runId = startedAtMs.toString(36);
        this.d.ownRuns?.add(runId);
        outcome = await this.runOnce(outputDir, runId);
      } catch (err) {
        // A failure around the process (database, file system) must not end supervision.
        this.log.error({ err }, 'recorder run failed');
        outcome = { exit: { code: null, signal: null, stderrTail: errorMessage(err) }, stalled: 0, silent: undefined };
      }
      if (signal.aborted) break;
      const runMs = clock.nowMs() - startedAtMs;
      const noSpace = isNoSpace(outcome.exit.stderrTail);
      const audioRefused = outcome.silent ? undefined : nextAudioAfterRefusal(this.audio, outcome.exit.stderrTail);
      if (audioRefused) {
        this.log.warn({ audioCodec: audioRefused.codec, from: this.audio, to: audioRefused.next }, 'the camera\'s audio cannot be recorded as it was: reconnecting');
        this.audio = audioRefused.next;
      }
      const probeFailed = !this.fullProbe && !outcome.silent && !audioRefused && QUICK_PROBE_FAILED.test(outcome.exit.stderrTail);
      const { clockBack } = outcome;
      const codecChange = outcome.codecChange ?? (this.videoCodec === 'h265' && HVC1_TAG_REFUSED.test(outcome.exit.stderrTail) ? { from: this.videoCodec, to: 'h264' as const } : undefined);
      if (codecChange) {
        this.videoCodec = codecChange.to;
        this.log.warn({ from: codecChange.from ?? 'unknown', to: codecChange.to }, 'the camera sends another video codec: restarting to write its sample entry');
      }
      const audFilterFailed = this.dropAud && !outcome.silent && AUD_FILTER_FAILED.test(outcome.exit.stderrTail);
      if (audFilterFailed) {
        this.dropAud = false;
        this.log.warn('the camera\'s parameter sets cannot be read to drop its access unit delimiters: recording the stream as sent');
      }
      if (probeFailed) {
        this.fullProbe = true;
        this.log.warn('the camera does not describe its stream in its SDP: recording with ffmpeg\'s full stream analysis');
      }
      const { silent } = outcome;
      const reason = noSpace
        ? NO_SPACE_REASON
        : silent
          ? describeSilence(silent)
          : clockBack
            ? `the camera's media clock went back while connected (its RTP timestamps leapt backwards); the segment was closed at its last true frame and the camera reconnected for a fresh clock (${describeExit(outcome.exit)})`
          : codecChange
            ? `the camera sends ${codecChange.to === 'h265' ? 'H.265' : 'H.264'}; reconnecting to record it as ${codecChange.to === 'h265' ? 'hvc1' : 'avc1'} (${describeExit(outcome.exit)})`
          : audioRefused
            ? `${describeAudioRefusal(audioRefused)} (${describeExit(outcome.exit)})`
          : audFilterFailed
            ? `the camera's parameter sets cannot be read to drop its access unit delimiters; reconnecting to record the stream as sent (${describeExit(outcome.exit)})`
          : probeFailed
            ? `the camera's SDP lacks the stream's parameters, which the quick start needs; reconnecting with full stream analysis (${describeExit(outcome.exit)})`
          : outcome.stalled
            ? `no new segment for ${outcome.stalled / 1000} s; recorder killed`
            : describeExit(outcome.exit);
      const lastError = reasonAndTail(reason, this.redact(outcome.exit.stderrTail));
      // A full disk, a stall, or an ffmpeg that could not even start, is an error; a lost connection
      // or a silent camera is offline.
      const state = !silent && (noSpace || outcome.stalled || outcome.exit.code === null && outcome.exit.signal === null) ? 'error' : 'offline';
      // A database that cannot take the write (disk full, locked) must not end supervision.
      await bumpReconnect(this.d.db, this.camera.id, state, lastError, clock.nowMs()).catch((err: unknown) =>
        this.log.error({ err }, 'recording the exit failed'),
      );
      const delayMs = audioRefused || audFilterFailed || probeFailed || clockBack || codecChange ? 0 : backoff.next(runMs, config.healthyRunSeconds * 1000);
      await this.d.events.emit({
        type: silent ? 'camera_silent' : outcome.stalled ? 'recorder_stalled' : 'recorder_exited',
        severity: 'warning',
        cameraId: this.camera.id,
        requestId: null,
        payload: {
          reason,
          ...(audioRefused ? { audio_codec: audioRefused.codec ?? null, audio_next: audioRefused.next } : {}),
          ...(silent
            ? {
                silent_seconds: Math.round(silent.silentMs / 100) / 10,
                had_video: silent.hadVideo,
                last_video_at: silent.lastVideoAtMs === undefined ? null : new Date(silent.lastVideoAtMs).toISOString(),
              }
            : {}),
          exit_code: outcome.exit.code,
          signal: outcome.exit.signal,
          ran_seconds: Math.round(runMs / 100) / 10,
          restart_in_ms: delayMs,
          stderr_tail: this.redact(outcome.exit.stderrTail).slice(-400),
        },
      });
      if (noSpace) await this.d.space?.noSpace(this.camera.id, this.redact(outcome.exit.stderrTail).slice(-400));
      await sleep(delayMs, signal);
      if (noSpace) await this.d.space?.whenWritable(signal, NO_SPACE_RETRY_MS);
    }
    if (!this.handedOff) await setStopped(this.d.db, this.camera.id, 'disabled', clock.nowMs());
  }

  private async runOnce(outputDir: string, runId: string): Promise<RunOutcome> {
    const { db, clock, config } = this.d;
    const cam = this.camera;
    const mediaClock = new MediaClock();
    let backwardJump: ClockJump | undefined;
    let lastEndMs: number | undefined;
    let lastEndSeconds: number | undefined;
    let lastActivityMs = clock.nowMs();
    let recording = false;
    // Video watch (invariant 15): the wall-clock instant the muxed media time last advanced.
    const launchedMs = clock.nowMs();
    let lastMediaUs = 0;
    let lastVideoFrames = 0;
    const runAudio = this.audio;
    let lastVideoMs: number | undefined;
    await setState(db, cam.id, 'connecting', undefined, clock.nowMs());

    // A file whose media clock went back (frames a tick apart until the camera's clock has caught up)
    // has nothing true to place what follows by: its row ends at the last true frame, and the run is
    // stopped so the next one starts a fresh clock. A forward jump was seen in the reports already.
    const onTimeJump = (jump: MediaTimeJump) => {
      if (jump.direction !== 'backward' || backwardJump) return;
      backwardJump = { direction: 'backward', seenAtMs: clock.nowMs() };
      this.noteClock(backwardJump);
      void proc.stop(config.stopTimeoutMs);
    };
    const onSegment = (entry: SegmentListEntry, wallMs: number) => {
      lastActivityMs = wallMs;
      // The frame that ended this segment has been received by now: one more bound of the anchor,
      // and the only one when the segment closes before the next progress report.
      this.noteClock(mediaClock.report(wallMs, entry.endSeconds * 1_000_000));
      // Placed by the anchor of the media clock's epoch the segment starts in (a forward jump starts one).
      const anchorMs = mediaClock.anchorMs(entry.startSeconds) ?? wallMs - entry.endSeconds * 1000;
      let startMs = Math.round(anchorMs + entry.startSeconds * 1000);
      let endMs = startMs + Math.round((entry.endSeconds - entry.startSeconds) * 1000);
      if (lastEndMs !== undefined && lastEndSeconds !== undefined && Math.abs(entry.startSeconds - lastEndSeconds) <= SAME_INSTANT_SECONDS && Math.abs(startMs - lastEndMs) <= SNAP_MS) {
        // Where the previous file ended, and its end where the run's media clock puts it from there.
        startMs = lastEndMs;
        endMs = lastEndMs + Math.round((entry.endSeconds - lastEndSeconds) * 1000);
      }
      lastEndMs = endMs;
      lastEndSeconds = entry.endSeconds;
      // Index in order, one at a time per camera, without blocking the reading of ffmpeg's output.
      const seq = OPEN_SEGMENT_NAME_PATTERN.exec(entry.fileName)?.[2];
      const finalPath = seq === undefined ? undefined : join(outputDir, segmentFileName(startMs, runId, seq));
      if (seq !== undefined) {
        liveRun?.segmentClosed(Number(seq), finalPath);
        this.unindexed.closed(runId, Number(seq), startMs, finalPath);
        fileStarts.set(Number(seq), () => startMs);
        openFile(Number(seq) + 1, entry.endSeconds, { ms: endMs, seconds: entry.endSeconds });
      }
      const closedPath = join(outputDir, entry.fileName);
      this.queueIndexing(async () => {
        // A file this run wrote as hev1 before it learnt the camera sends H.265 gets the hvc1 entry too.
        if (codecChange?.to === 'h265') {
          await rewriteHev1AsHvc1(closedPath).catch((err: unknown) => this.log.error({ err, file: entry.fileName }, 'rewriting the hev1 sample entry failed'));
        }
        return this.d.indexer
          .indexClosedRetrying({ cameraId: cam.id, absPath: join(outputDir, entry.fileName), startMs, endMs, source: 'live', onTimeJump, fence: this.fence, ...(finalPath ? { finalPath } : {}) }, this.abort.signal)
          .catch((err: unknown) => this.log.error({ err, file: entry.fileName }, 'indexing failed'))
          .finally(() => seq !== undefined && this.unindexed.indexed(runId, Number(seq)));
      });
    };
    // The file ffmpeg writes next, placed as its row will be once it closes (the anchor of the epoch it
    // starts in, snapped to the previous file's end): reviewable while it grows.
    // Each file's start for the live view's frame clock: estimated while open, fixed once closed.
    const fileStarts = new Map<number, () => number | undefined>();
    const openFile = (seq: number, startSeconds: number, prev: { ms: number; seconds: number } | undefined) => {
      const estimate = () => {
        const anchorMs = mediaClock.anchorMs(startSeconds);
        if (anchorMs === undefined) return undefined;
        const startMs = Math.round(anchorMs + startSeconds * 1000);
        return prev && prev.seconds === startSeconds && Math.abs(startMs - prev.ms) <= SNAP_MS ? prev.ms : startMs;
      };
      fileStarts.set(seq, estimate);
      fileStarts.delete(seq - 2);
      this.unindexed.opened(runId, seq, join(outputDir, openSegmentFileName(runId, seq)), estimate);
    };
    openFile(0, 0, undefined);
    const args = buildRecorderArgs({
      url: cam.mainUrl,
      outputDir,
      segmentSeconds: cam.segmentSeconds,
      socketTimeoutSeconds: config.rtspTimeoutSeconds,
      fileNamePattern: openSegmentNamePattern(runId),
      quickProbe: !this.fullProbe,
      audio: this.audio,
      videoCodec: this.videoCodec,
      dropAud: this.dropAud,
    });
    // The run's first file tells what the camera sends (its init is on disk from the first frame on):
    // another codec than the argv was made for stops the run, and the next writes the right entry.
    const runCodec = this.videoCodec;
    let codecChange: RunOutcome['codecChange'];
    let codecTries = 0;
    let codecChecking = false;
    const checkCodec = () => {
      if (codecChecking || codecTries >= CODEC_CHECK_TRIES) return;
      codecChecking = true;
      codecTries++;
      videoCodecOfFile(join(outputDir, openSegmentFileName(runId, 0)))
        .then((codec) => {
          if (codec === undefined) return;
          codecTries = CODEC_CHECK_TRIES;
          const found = codecFamily(codec);
          if (found === undefined || found === (runCodec ?? 'h264')) return;
          if (found === 'h265' || runCodec === 'h265') {
            codecChange = { from: runCodec, to: found };
            void proc.stop(config.stopTimeoutMs);
          }
        })
        // Not there (closed and renamed already, or not yet made): tried again at the next report.
        .catch(() => undefined)
        .finally(() => {
          codecChecking = false;
        });
    };
    const liveRun = this.d.live?.runStarted(cam.id, {
      pathOf: (seq) => join(outputDir, openSegmentFileName(runId, seq)),
      startMsOf: (seq) => fileStarts.get(seq)?.(),
    });
    await spawnTurn();
    const proc = this.launch(config.ffmpegPath, args, {
      onSegment,
      onProgress: (outTimeUs, frame, wallMs) => {
        this.noteClock(mediaClock.report(wallMs, outTimeUs, frame));
        // With audio, ffmpeg's media time is the furthest of both streams: audio that goes on while the
        // video stopped must not look like video, so the video frame count decides.
        if (runAudio === 'off' ? outTimeUs > lastMediaUs : frame > lastVideoFrames) {
          lastMediaUs = outTimeUs;
          lastVideoFrames = frame;
          lastVideoMs = wallMs;
          const anchor = mediaClock.anchorMs(outTimeUs / 1e6);
          this.lastFrameMs = anchor === undefined ? wallMs : Math.min(wallMs, Math.round(anchor + outTimeUs / 1000));
          if (this.stalledSinceMs !== undefined) this.noteStall(false, wallMs);
        }
        if (outTimeUs > 0) checkCodec();
        if (!recording && outTimeUs > 0) {
          recording = true;
          this.markRecording(proc.pid, wallMs).catch((err: unknown) => this.log.error({ err }, 'marking recording failed'));
        }
      },
    }, () => clock.nowMs());
    this.proc = proc;
    // `exited` follows 'close': every segment line has been read by then.
    if (liveRun) void proc.exited.then(() => liveRun.end());
    void proc.exited.then(() => this.unindexed.runEnded(runId));
    // stop() may have run while this process was being started: it must not outlive the recorder.
    if (this.abort.signal.aborted) void proc.stop(config.stopTimeoutMs);
    // From here on the process is this run's to see exit: nothing may leave it running unsupervised.
    let exit: ExitInfo;
    let stalled = 0;
    let silent: Silence | undefined;
    let unwatch: (() => void) | undefined;
    try {
      // A status write that fails (disk full, I/O error) is logged; the process it describes runs on.
      if (proc.pid > 0) {
        await setRunning(db, cam.id, 'connecting', proc.pid, clock.nowMs()).catch((err: unknown) => this.log.error({ err }, 'recording the recorder pid failed'));
      }
      this.log.info({ pid: proc.pid, url: maskUrl(cam.mainUrl) }, 'recorder started');
      // Stall watch: alive but no new segment for max(3 × segment, floor) → kill and restart.
      const stallMs = Math.max(3 * cam.segmentSeconds, config.stallFloorSeconds) * 1000;
      // Silence watch: connected, but no new video for `freeze_seconds` (none at all for
      // `rtsp_timeout_seconds` after the start) → graceful stop: the open segment ends at its last
      // frame and the next run starts a new one, so the silence is a recorded gap. Kept running, a
      // frozen camera's late (back-dated) frames would be placed inside the silence as if they had
      // been received then (invariant 15), or a silent one would wait on ffmpeg's own end.
      const freezeMs = config.freezeSeconds * 1000;
      const firstVideoMs = (config.rtspTimeoutSeconds + PROBE_ALLOWANCE_SECONDS) * 1000;
      let lastTickMs = clock.nowMs();
      unwatch = watchTick.watch(() => {
        if (stalled || silent) return;
        const now = clock.nowMs();
        const held = now - lastTickMs > WATCH_EVERY_MS + HELD_LOOP_MS;
        lastTickMs = now;
        if (held) return;
        const quietMs = now - (lastVideoMs ?? launchedMs);
        if (recording && lastVideoMs !== undefined && quietMs > STALL_NOTICE_MS && this.stalledSinceMs === undefined) this.noteStall(true, now);
        if (quietMs > (lastVideoMs === undefined ? firstVideoMs : freezeMs)) {
          silent = { silentMs: quietMs, hadVideo: lastVideoMs !== undefined, lastVideoAtMs: lastVideoMs, limitSeconds: lastVideoMs === undefined ? config.rtspTimeoutSeconds : config.freezeSeconds };
          void proc.stop(config.stopTimeoutMs);
        } else if (now - lastActivityMs > stallMs) {
          stalled = stallMs;
          void proc.kill();
        }
      });
      exit = await proc.exited;
    } catch (err) {
      // Anything unforeseen: the process ends with the run, before the loop may start another.
      await proc.kill();
      throw err;
    } finally {
      unwatch?.();
      this.proc = undefined;
      // The run's end is its own state (offline, error): a stall is only ever that of a running ffmpeg.
      this.stalledSinceMs = undefined;
    }
    // Whatever this run left unlisted (killed mid-segment) is indexed up to its last whole fragment,
    // after the rows of the segments it did list.
    const reconciled = this.queueIndexing(() =>
      reconcileCamera({ db, indexer: this.d.indexer, events: this.d.events }, cam.id, { runId, fence: this.fence }).catch((err: unknown) =>
        this.log.error({ err }, 'reconciling the run failed'),
      ),
    );
    // Normally done at once; while the catalog cannot take rows, the camera is not kept from reconnecting.
    await Promise.race([reconciled, sleep(RUN_END_INDEX_WAIT_MS, this.abort.signal)]);
    return { exit, stalled, silent, ...(backwardJump ? { clockBack: backwardJump } : {}), ...(codecChange ? { codecChange } : {}) };
  }

  /** The launcher, and the first launch told (start-up reconciliation waits for every recorder's). */
  private launch(...args: Parameters<RecorderLauncher>): RecorderProcess {
    try {
      return this.d.launcher(...args);
    } finally {
      this.launched();
    }
  }

  private queueIndexing(job: () => Promise<unknown>): Promise<unknown> {
    this.indexQueue = this.indexQueue.then(job);
    return this.indexQueue;
  }

  /** A media-clock jump seen in ffmpeg's reports: an event at once (the footage is cut at it when indexed). */
  private noteClock(jump: ClockJump | undefined): void {
    if (!jump) return;
    this.log.warn({ direction: jump.direction, approxJumpMs: jump.approxJumpMs }, 'the camera\'s media clock jumped');
    void this.d.events.emit({
      type: 'camera_time_jump',
      severity: 'warning',
      cameraId: this.camera.id,
      requestId: null,
      payload: {
        direction: jump.direction,
        seen_at: new Date(jump.seenAtMs).toISOString(),
        approx_jump_seconds: jump.approxJumpMs === undefined ? null : Math.round(jump.approxJumpMs / 100) / 10,
        action: jump.direction === 'forward' ? 'recording goes on; footage after the jump is placed by a fresh anchor' : 'reconnecting for a fresh clock',
      },
    });
  }

  /**
   * The media time stood still past STALL_NOTICE_MS (`stalled`), or moves again (`resumed`). Only the
   * status overlay changes: the stored state stays `recording` while this ffmpeg runs.
   */
  private noteStall(stalled: boolean, nowMs: number): void {
    const since = this.stalledSinceMs;
    this.stalledSinceMs = stalled ? nowMs : undefined;
    const lastFrameAt = this.lastFrameMs === undefined ? null : new Date(this.lastFrameMs).toISOString();
    this.log.warn({ lastFrameAt }, stalled ? 'camera stalled: media time stands still' : 'camera resumed sending');
    this.d.events.emit(stalled
      ? { type: 'camera_stalled', severity: 'warning', cameraId: this.camera.id, requestId: null, payload: { last_frame_at: lastFrameAt, quiet_seconds: Math.round((nowMs - (this.lastFrameMs ?? nowMs)) / 100) / 10 } }
      : { type: 'camera_resumed', cameraId: this.camera.id, requestId: null, payload: { last_frame_at: lastFrameAt, stalled_seconds: since === undefined ? 0 : Math.round((nowMs - since) / 100) / 10 } })
      .catch((err: unknown) => this.log.error({ err }, 'recording the stall event failed'));
  }

  private async markRecording(pid: number, wallMs: number): Promise<void> {
    await setState(this.d.db, this.camera.id, 'recording', undefined, wallMs);
    await this.d.events.emit({ type: 'recording_started', cameraId: this.camera.id, requestId: null, payload: { pid } });
  }
}

function describeSilence(s: Silence): string {
  const secs = (Math.round(s.silentMs / 100) / 10).toFixed(1);
  return s.hadVideo
    ? `the camera stopped sending video: none for ${secs} s while connected (freeze_seconds ${s.limitSeconds}); the segment was closed at its last frame and the camera reconnected`
    : `the camera sent no video for ${secs} s after the recorder started (rtsp_timeout_seconds ${s.limitSeconds} + ${PROBE_ALLOWANCE_SECONDS} s of stream analysis); reconnecting`;
}

function describeAudioRefusal(r: { next: RecorderAudio; codec: string | undefined }): string {
  const codec = r.codec === undefined ? 'its codec' : r.codec === 'none' ? 'a codec ffmpeg does not know' : r.codec;
  return r.next === 'aac'
    ? `the camera's audio (${codec}) cannot be stored in MP4 as sent; reconnecting to record it transcoded to AAC (the video stays a stream copy)`
    : `the camera's audio (${codec}) cannot be recorded; reconnecting to record the video without it`;
}

function describeExit(exit: ExitInfo): string {
  if (exit.signal) return `ffmpeg killed by ${exit.signal}`;
  // ffmpeg ends cleanly only when its input ends: the camera closed the stream (went away, rebooted).
  if (exit.code === 0) return 'the camera ended the stream (ffmpeg exited with code 0)';
  return `ffmpeg exited with code ${String(exit.code)}`;
}
