import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AnrConfig } from '../config/config.js';
import { getCamera } from '../db/camera.repo.js';
import type { Db } from '../db/connection.js';
import type { Gap } from '../db/gap.repo.js';
import {
  claimGap,
  deferGap,
  failGapAttempt,
  finishGap,
  getGap,
  listRefillCandidates,
  nextRefillDueMs,
  releaseGap,
  requeueGap,
  resetFillingGaps,
} from '../db/refill.repo.js';
import { listSpans } from '../db/segment.repo.js';
import type { EventLog } from '../events/event-log.js';
import type { Indexer } from '../indexer/indexer.service.js';
import { spawnSupervised, type Supervised } from '../media/child.js';
import { scanFmp4, truncateToLastCompleteFragment, type Fmp4Scan } from '../media/fmp4/scan.js';
import { leadInMs } from '../media/fmp4/lead-in.js';
import { buildRefillArgs } from '../media/refill-args.js';
import type { Actor } from '../shared/actor.js';
import type { Clock } from '../shared/clock.js';
import { errorMessage, notFound, VigilError } from '../shared/errors.js';
import { redactSecrets, urlSecrets } from '../shared/redact.js';
import { sleep } from '../shared/sleep.js';
import { isNoSpace, NO_SPACE_REASON } from '../media/no-space.js';
import { renderReplayUrl } from '../config/anr-replay.js';
import { edgeSegmentFileName } from '../storage/segment-names.js';

/** Starts one refill ffmpeg; tests may replace it. */
export type RefillLauncher = (program: string, args: string[]) => Supervised;

export interface RefillDeps {
  db: Db;
  clock: Clock;
  events: EventLog;
  indexer: Indexer;
  log: Logger;
  config: AnrConfig;
  ffmpegPath: string;
  launch?: RefillLauncher;
  /** The recordings disk: no refill starts while it is full, and one that runs out of room says so. */
  space?: RefillSpace;
}

/** What a refill needs of the recordings disk's watch (StorageWatch). */
export interface RefillSpace {
  readonly isFull: boolean;
  noSpace(cameraId: string, detail: string): Promise<void>;
}

/** A gap counts as filled when the edge footage indexed inside it covers this share of it. */
export const FILLED_COVERAGE = 0.9;

const defaultLaunch: RefillLauncher = (program, args) => spawnSupervised(program, args, ['ignore', 'ignore', 'pipe']);

class RefillFailure extends Error {}
/** The refill's file could not be written: the recordings disk is full. Not the edge's fault. */
class NoSpaceFailure extends Error {}

/**
 * Refills recording gaps from the cameras' edge storage. One loop picks due pending gaps (oldest
 * first, in bounded batches), at most one refill per camera and `maxConcurrent` in all. Each refill:
 * ffmpeg pulls exactly the gap's span into `.refill-<gap>.part` in the camera's folder (killed after
 * the gap's length plus a margin), the file is scanned, renamed to a segment name, fsynced and
 * indexed as `source = 'edge'` — `indexSegment` clamps it between its live neighbours (invariant 4).
 * A crash leaves at most a temp file (removed at start-up) or a renamed whole file (indexed by
 * reconciliation like any segment), and the gap `filling`, which start-up puts back to pending.
 */
export class RefillService {
  private readonly abort = new AbortController();
  private wakeCtl = new AbortController();
  private loop: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Camera id → the refill running for it. */
  private readonly running = new Map<string, Promise<void>>();
  private readonly launch: RefillLauncher;

  constructor(private readonly d: RefillDeps) {
    this.launch = d.launch ?? defaultLaunch;
  }

  /**
   * Start-up, before `start()`: temp files of interrupted refills are deleted (never indexed) and
   * interrupted gaps go back to pending, the interrupted attempt counted. Returns what was cleaned.
   */
  async recover(): Promise<{ tempFiles: number; gaps: number }> {
    const tempFiles = await this.d.indexer.store.removeRefillTemps();
    const gaps = await resetFillingGaps(this.d.db, this.d.config.maxAttempts);
    return { tempFiles, gaps };
  }

  start(): void {
    // A new gap is refilled once it has settled, without waiting for the periodic scan.
    this.unsubscribe ??= this.d.events.subscribe((e) => {
      if (e.type !== 'recording_gap') return;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.wake();
      }, this.d.config.settleSeconds * 1000 + 50);
      this.timers.add(timer);
    });
    this.loop ??= (async () => {
      const signal = this.abort.signal;
      while (!signal.aborted) {
        try {
          await this.scanOnce();
        } catch (err) {
          this.d.log.error({ err }, 'refill scan failed');
        }
        const wake = this.wakeCtl.signal;
        await sleep(await this.untilNextDueMs(), AbortSignal.any([signal, wake]));
        if (wake.aborted) this.wakeCtl = new AbortController();
      }
    })();
  }

  /** Stops scanning and kills refills in flight; their gaps go back to pending without an attempt counted. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.unsubscribe?.();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.loop;
    await Promise.all(this.running.values());
  }

  /**
   * How long the loop may sleep: until the next pending gap is due (a backoff ending, a gap settling),
   * at most one scan interval. A retry due in 60 s starts then, not at the scan after it.
   */
  private async untilNextDueMs(): Promise<number> {
    const scanMs = this.d.config.scanIntervalSeconds * 1000;
    // A refill slot is needed as well: a due gap behind a busy camera waits for that refill's wake.
    if (this.running.size >= this.d.config.maxConcurrent) return scanMs;
    const due = await nextRefillDueMs(this.d.db, this.d.config.settleSeconds * 1000).catch(() => undefined);
    if (due === undefined) return scanMs;
    return Math.min(scanMs, Math.max(50, due - this.d.clock.nowMs() + 10));
  }

  /** Makes the loop scan now (a gap settled, a refill ended, or an operator asked). */
  wake(): void {
    this.wakeCtl.abort();
  }

  /** Starts refills for due gaps, within the per-camera and global limits. */
  async scanOnce(): Promise<number> {
    if (this.abort.signal.aborted || this.running.size >= this.d.config.maxConcurrent) return 0;
    // A refill into a full disk can only fail; gaps wait (their attempts untouched) until there is room.
    if (this.d.space?.isFull) return 0;
    const now = this.d.clock.nowMs();
    const due = await listRefillCandidates(this.d.db, now, now - this.d.config.settleSeconds * 1000, this.d.config.batchSize);
    let started = 0;
    for (const gap of due) {
      if (this.running.size >= this.d.config.maxConcurrent) break;
      if (this.running.has(gap.cameraId)) continue;
      if (!(await claimGap(this.d.db, gap.id))) continue;
      const job = this.refill(gap)
        .catch((err) => this.d.log.error({ err, gapId: gap.id }, 'refill failed unexpectedly'))
        .finally(() => {
          this.running.delete(gap.cameraId);
          this.wake();
        });
      this.running.set(gap.cameraId, job);
      started++;
    }
    return started;
  }

  /** Manual refill: re-queues a failed or partial gap (fresh attempt budget) and wakes the loop. */
  async requeue(cameraId: string, gapId: number, actor: Actor): Promise<Gap> {
    if (!(await getCamera(this.d.db, cameraId))) throw notFound(`camera "${cameraId}" not found`, 'id');
    const cam = await getCamera(this.d.db, cameraId);
    const before = await getGap(this.d.db, cameraId, gapId);
    if (!before) throw notFound(`gap ${gapId} of camera "${cameraId}" not found`, 'gapId');
    if (!cam?.anr.enabled) {
      throw new VigilError('failed_precondition', `camera "${cameraId}" has no edge replay configured (anr_enabled): nothing can refill gap ${gapId}`, { field: 'gapId' });
    }
    if (before.fillState === 'filled') {
      throw new VigilError('failed_precondition', `gap ${gapId} is already filled`, { field: 'gapId' });
    }
    const gap = (await requeueGap(this.d.db, cameraId, gapId)) ?? before;
    await this.d.events.emit({
      type: 'gap_refill_requested',
      cameraId,
      requestId: actor.requestId,
      payload: { gap_id: gapId, previous_state: before.fillState, previous_attempts: before.fillAttempts },
    });
    this.wake();
    return gap;
  }

  private async refill(gap: Gap): Promise<void> {
    const cam = await getCamera(this.d.db, gap.cameraId);
    if (!cam?.anr.enabled) {
      await releaseGap(this.d.db, gap.id);
      return;
    }
    const secrets = urlSecrets(cam.mainUrl);
    // One-second resolution on the wire: ask from the whole second at or before the gap.
    const startMs = Math.floor(gap.gapStartMs / 1000) * 1000;
    const durationSeconds = Math.ceil((gap.gapEndMs - startMs) / 1000);
    const store = this.d.indexer.store;
    const tmp = store.refillTempPath(gap.cameraId, gap.id);
    const attempt = gap.fillAttempts + 1;
    await this.d.events.emit({
      type: 'gap_refill_started',
      cameraId: gap.cameraId,
      requestId: null,
      payload: { gap_id: gap.id, gap_start: iso(gap.gapStartMs), gap_end: iso(gap.gapEndMs), seconds: (gap.gapEndMs - gap.gapStartMs) / 1000, attempt },
    });
    try {
      const url = renderReplayUrl(cam.anr, cam.mainUrl, startMs, gap.gapEndMs);
      await store.ensureCameraDir(gap.cameraId);
      await store.discard(tmp);
      const outcome = await this.pull(url, tmp, durationSeconds, secrets);
      if (outcome === 'stopped') {
        await store.discard(tmp);
        await releaseGap(this.d.db, gap.id);
        return;
      }
      const scan = await this.readPulled(tmp);
      const finalPath = join(store.cameraDir(gap.cameraId), edgeSegmentFileName(startMs, gap.id, this.d.clock.nowMs()));
      await store.rename(tmp, finalPath);
      // insert() fsyncs the file and the folder before the row is written.
      // The file's first frame is the whole second asked for (`startMs`): its footage lies at
      // startMs + media time (time truth). The row starts at the gap's start, `gapStart − startMs`
      // into the file — not at the whole second, since indexSegment clamps between the neighbours of
      // its start instant and a live segment may begin inside that second (a short last segment
      // before the outage), which would clamp the whole file away.
      // ffmpeg's RTSP reader stamps a connection's first frame one tick before the second: media time 0
      // is then the second frame's instant, one frame interval after the whole second asked for.
      const zeroMs = startMs + leadInMs(scan);
      await this.d.indexer.insert(
        {
          cameraId: gap.cameraId,
          absPath: finalPath,
          startMs: Math.max(gap.gapStartMs, zeroMs),
          endMs: zeroMs + Math.round(scan.videoDurationSeconds * 1000),
          source: 'edge',
          mediaOffsetMs: Math.max(0, gap.gapStartMs - zeroMs),
        },
        scan,
      );
      const coveredMs = await this.coveredMs(gap);
      const gapMs = gap.gapEndMs - gap.gapStartMs;
      const state = coveredMs >= FILLED_COVERAGE * gapMs ? 'filled' : 'partial';
      const missing = `the edge held ${(coveredMs / 1000).toFixed(1)} s of the ${(gapMs / 1000).toFixed(1)} s gap`;
      const after = await finishGap(this.d.db, gap.id, state, missing);
      await this.d.events.emit({
        type: 'gap_refill_succeeded',
        cameraId: gap.cameraId,
        requestId: null,
        payload: { gap_id: gap.id, state, attempt: after.fillAttempts, seconds_recovered: coveredMs / 1000, coverage: Math.round((coveredMs / gapMs) * 1000) / 1000 },
      });
    } catch (err) {
      await store.discard(tmp);
      if (err instanceof NoSpaceFailure || (err as NodeJS.ErrnoException).code === 'ENOSPC') {
        await this.deferForSpace(gap, redactSecrets(errorMessage(err), secrets));
        return;
      }
      const reason = redactSecrets(err instanceof RefillFailure || err instanceof VigilError ? err.message : `refill failed: ${errorMessage(err)}`, secrets);
      if (!(err instanceof RefillFailure || err instanceof VigilError)) this.d.log.error({ err, gapId: gap.id }, 'refill failed');
      const backoffMs = Math.min(this.d.config.backoffInitialMs * 2 ** (attempt - 1), this.d.config.backoffMaxMs);
      const after = await failGapAttempt(this.d.db, gap.id, reason, this.d.clock.nowMs() + backoffMs, this.d.config.maxAttempts);
      await this.d.events.emit({
        type: 'gap_refill_failed',
        severity: after.fillState === 'failed' ? 'warning' : 'info',
        cameraId: gap.cameraId,
        requestId: null,
        payload: {
          gap_id: gap.id,
          reason: after.lastError ?? reason,
          attempt: after.fillAttempts,
          state: after.fillState,
          next_attempt_at: after.nextAttemptAtMs === null ? null : iso(after.nextAttemptAtMs),
        },
      });
    }
  }

  /**
   * The recordings disk filled up under the refill: the disk watch is told (a `disk_full` event,
   * readiness, retention asked to sweep), and the gap goes back to pending without an attempt
   * counted, retried once there is room — the edge still holds the footage.
   */
  private async deferForSpace(gap: Gap, detail: string): Promise<void> {
    await this.d.space?.noSpace(gap.cameraId, detail.slice(-400));
    const nextMs = this.d.clock.nowMs() + this.d.config.backoffInitialMs;
    const after = await deferGap(this.d.db, gap.id, `${NO_SPACE_REASON}: ${detail}`, nextMs);
    await this.d.events.emit({
      type: 'gap_refill_failed',
      severity: 'warning',
      cameraId: gap.cameraId,
      requestId: null,
      payload: {
        gap_id: gap.id,
        reason: after.lastError,
        attempt: after.fillAttempts,
        attempt_counted: false,
        state: after.fillState,
        next_attempt_at: iso(nextMs),
      },
    });
  }

  /** Runs ffmpeg until it exits, the deadline passes (failure) or the service stops. */
  private async pull(url: string, outPath: string, durationSeconds: number, secrets: string[]): Promise<'done' | 'stopped'> {
    const deadlineSeconds = durationSeconds + this.d.config.timeoutMarginSeconds;
    // The socket timeout is longer than the deadline on purpose: a stalled edge must end as a
    // timeout (nothing indexed), not as an early clean exit with a truncated file.
    const args = buildRefillArgs({ url, outputPath: outPath, durationSeconds, socketTimeoutSeconds: deadlineSeconds + 5 });
    if (this.abort.signal.aborted) return 'stopped';
    const proc = this.launch(this.d.ffmpegPath, args);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.signal('SIGKILL');
    }, deadlineSeconds * 1000);
    const onStop = () => proc.signal('SIGKILL');
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    try {
      const exit = await proc.exited;
      if (this.abort.signal.aborted) return 'stopped';
      if (timedOut) throw new RefillFailure(`edge replay timed out after ${deadlineSeconds} s`);
      if (exit.code !== 0) {
        const tail = exit.stderrTail.trim().split('\n').slice(-3).join(' | ');
        if (isNoSpace(exit.stderrTail)) throw new NoSpaceFailure(`ffmpeg exited with ${exit.code ?? exit.signal}: ${redactSecrets(tail, secrets)}`);
        throw new RefillFailure(`ffmpeg exited with ${exit.code ?? exit.signal}: ${redactSecrets(tail, secrets)}`);
      }
      return 'done';
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onStop);
      proc.signal('SIGKILL');
      await proc.exited;
    }
  }

  private async readPulled(path: string): Promise<Fmp4Scan> {
    let scan: Fmp4Scan;
    try {
      scan = await scanFmp4(path);
      if (!scan.complete && scan.fragmentCount > 0) scan = await truncateToLastCompleteFragment(path);
    } catch (err) {
      throw new RefillFailure(`edge replay is not a readable MP4: ${errorMessage(err)}`);
    }
    if (scan.fragmentCount === 0 || scan.videoDurationSeconds <= 0) throw new RefillFailure('edge replay held no footage');
    return scan;
  }

  /** Milliseconds of the gap now covered by indexed footage (edge segments, after clamping). */
  private async coveredMs(gap: Gap): Promise<number> {
    const spans = await listSpans(this.d.db, gap.cameraId, gap.gapStartMs, gap.gapEndMs);
    return spans.reduce((sum, [s, e]) => sum + Math.max(0, Math.min(e, gap.gapEndMs) - Math.max(s, gap.gapStartMs)), 0);
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

