import { join } from 'node:path';
import type { Fence } from '../db/cluster.repo.js';
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
  GAP_ERROR_MAX_CHARS,
  getGap,
  INTERRUPTED_REFILL_ERROR,
  listFillingGaps,
  listRefillCandidates,
  nextRefillDueMs,
  releaseGap,
  requeueGap,
  settleGap,
} from '../db/refill.repo.js';
import { listSpans } from '../db/segment.repo.js';
import type { EventLog } from '../events/event-log.js';
import type { Indexer } from '../indexer/indexer.service.js';
import { spawnSupervised, type Supervised } from '../media/child.js';
import { scanFmp4, truncateToLastCompleteFragment, type Fmp4Scan } from '../media/fmp4/scan.js';
import { leadInMs } from '../media/fmp4/lead-in.js';
import { buildRefillArgs } from '../media/refill-args.js';
import { rewriteHev1AsHvc1 } from '../media/video-codec.js';
import type { Actor } from '../shared/actor.js';
import type { Clock } from '../shared/clock.js';
import { errorMessage, notFound, VigilError } from '../shared/errors.js';
import { redactSecrets, redactUrl, urlSecrets } from '../shared/redact.js';
import { WakeLoop } from '../shared/wake-loop.js';
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
  /**
   * In a cluster: the lease this node holds on a camera (undefined: another node's camera). Only the
   * node recording a camera refills its gaps, and its edge rows are written under that lease.
   */
  fenceOf?: (cameraId: string) => Fence | undefined;
}

/** What a refill needs of the recordings disk's watch (StorageWatch). */
export interface RefillSpace {
  readonly isFull: boolean;
  noSpace(cameraId: string, detail: string): Promise<void>;
}

/** A gap counts as filled when the edge footage indexed inside it covers this share of it. */
export const FILLED_COVERAGE = 0.9;

/**
 * A part of a gap no footage covers is pulled only when at least this long: replay URLs have whole
 * seconds, so a shorter sliver would cost a pull of one or two seconds that the clamp (invariant 4)
 * mostly cuts away again.
 */
export const MIN_PULL_MS = 1000;
/** How far before and past a missing span a refill asks the edge for footage (see refill()). */
export const PULL_LEAD_MS = 1000;
export const PULL_TAIL_MS = 1000;

const defaultLaunch: RefillLauncher = (program, args) => spawnSupervised(program, args, ['ignore', 'ignore', 'pipe']);

class RefillFailure extends Error {}
/** The refill's file could not be written: the recordings disk is full. Not the edge's fault. */
class NoSpaceFailure extends Error {}

/**
 * Refills recording gaps from the cameras' edge storage. One loop picks due gaps (oldest first, in
 * bounded batches), at most one refill per camera and `maxConcurrent` in all. Each attempt pulls what
 * of the gap is still missing: the earliest span of it no indexed footage covers (at least MIN_PULL_MS
 * long; the whole gap on a first attempt). ffmpeg pulls that span into `.refill-<gap>.part` in the
 * camera's folder (killed after the span's length plus a margin), the file is scanned, renamed to a
 * segment name, fsynced and indexed as `source = 'edge'` — `indexSegment` clamps it between its
 * neighbours, live or edge (invariant 4), so an attempt never duplicates footage already indexed.
 * One span per attempt: an attempt is one pull (one `gap_refill_started`, one outcome, its own
 * deadline), and an edge that returned less than asked leaves one missing span at the end, which the
 * next attempt asks for; several missing spans are taken one attempt after another.
 *
 * The gap's state (`fill_state`, part of the API; no state beyond the table's CHECK):
 * - `pending`: nothing of it indexed yet; an attempt is due at `next_attempt_at_ms` (NULL: at once).
 * - `filling`: an attempt runs.
 * - `filled`: indexed footage covers at least FILLED_COVERAGE of it. Final.
 * - `partial`: some of it is indexed, not enough; `last_error` says what is still missing. While
 *   `next_attempt_at_ms` is set, another attempt is scheduled then (the candidates include it); NULL
 *   once `maxAttempts` are used or nothing a replay could ask for is left. Never `failed`: part of it
 *   is filled.
 * - `failed`: `maxAttempts` used and nothing indexed. Final until a manual refill.
 * After an attempt: filled; else partial when anything is indexed, else pending — both with the
 * failure backoff (`backoffInitialMs · 2^(attempt−1)`, at most `backoffMaxMs`) and the same attempt
 * budget; at its end, partial or failed with no next attempt. Every attempt counts, one that adds
 * nothing or fails on a partial gap too. A manual refill gives a fresh budget and makes the gap due now.
 * A crash leaves at most a temp file (removed at start-up) or a renamed whole file (indexed by
 * reconciliation like any segment), and the gap `filling`: start-up counts the interrupted attempt
 * and puts it back to pending, or partial, with an attempt due at once.
 */
export class RefillService {
  private readonly abort = new AbortController();
  private readonly loop = new WakeLoop({
    step: () => this.scanOnce(),
    untilNextMs: () => this.untilNextDueMs(),
    onError: (err) => this.d.log.error({ err }, 'refill scan failed'),
    signal: this.abort.signal,
  });
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
   * interrupted gaps go back to pending (partial when part of them is filled), due at once, the
   * interrupted attempt counted — a refill that brought Vigil down each time must not be retried
   * forever: once `maxAttempts` are used the gap is failed (or stays partial). Returns what was cleaned.
   */
  async recover(): Promise<{ tempFiles: number; gaps: number }> {
    const tempFiles = await this.d.indexer.store.removeRefillTemps();
    const interrupted = await listFillingGaps(this.d.db);
    for (const gap of interrupted) {
      const cov = await this.coverage(gap);
      const partly = cov.coveredMs > 0;
      const next = cov.missing.length > 0 ? this.d.clock.nowMs() : null;
      await failGapAttempt(this.d.db, gap.id, partly ? `${cov.text}; last attempt ${INTERRUPTED_REFILL_ERROR}` : INTERRUPTED_REFILL_ERROR, next, this.d.config.maxAttempts, partly);
    }
    return { tempFiles, gaps: interrupted.length };
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
    this.loop.start();
  }

  /** Stops scanning and kills refills in flight; their gaps go back to pending without an attempt counted. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.unsubscribe?.();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.loop.ended();
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
    this.loop.wake();
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
      if (this.d.fenceOf && !this.d.fenceOf(gap.cameraId)) continue;
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

  /**
   * Manual refill: re-queues a failed or partial gap (fresh attempt budget, due now) and wakes the
   * loop; a partial one stays partial, and its attempts pull only what is still missing.
   */
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
    if (before.fillState === 'partial') {
      const cov = await this.coverage(before);
      if (cov.missing.length === 0) {
        throw new VigilError('failed_precondition', `gap ${gapId} has nothing left a refill could ask for: ${cov.text}`, { field: 'gapId' });
      }
    }
    const gap = (await requeueGap(this.d.db, cameraId, gapId, this.d.clock.nowMs())) ?? before;
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
    // The state it was claimed from, for giving it back untouched (stop, edge replay switched off).
    const back = gap.fillState === 'partial' ? 'partial' : 'pending';
    const cam = await getCamera(this.d.db, gap.cameraId);
    if (!cam?.anr.enabled) {
      await releaseGap(this.d.db, gap.id, back);
      return;
    }
    const before = await this.coverage(gap);
    const span = before.missing[0];
    if (before.filled || !span) {
      // Footage landed inside it meanwhile, or only slivers are missing: nothing to pull, no attempt.
      await settleGap(this.d.db, gap.id, before.filled ? 'filled' : 'partial', before.text);
      this.d.log.info({ gapId: gap.id, cameraId: gap.cameraId, missing: before.text }, 'gap settled without a refill: nothing left to pull');
      return;
    }
    const [spanStartMs, spanEndMs] = span;
    const secrets = urlSecrets(cam.mainUrl);
    // One-second resolution on the wire: ask from the whole second at least PULL_LEAD_MS before the
    // missing span (the replay's first frame shows for a tick only, so media time 0 is one frame after
    // the second asked for: a span starting within that frame would keep a sliver uncovered), and on to
    // PULL_TAIL_MS after it (not later than the last whole second), so the file reaches the footage
    // after the span even when the replay ends a frame short (measured now and then against a real
    // RTSP edge). The overlaps are clamped away at indexing (invariant 4).
    const startMs = Math.floor((spanStartMs - PULL_LEAD_MS) / 1000) * 1000;
    const pullEndMs = Math.max(spanEndMs, Math.min(spanEndMs + PULL_TAIL_MS, Math.floor(this.d.clock.nowMs() / 1000) * 1000));
    const durationSeconds = Math.ceil((pullEndMs - startMs) / 1000);
    const store = this.d.indexer.store;
    const tmp = store.refillTempPath(gap.cameraId, gap.id);
    const attempt = gap.fillAttempts + 1;
    const spanPayload = { span_start: iso(spanStartMs), span_end: iso(spanEndMs) };
    await this.d.events.emit({
      type: 'gap_refill_started',
      cameraId: gap.cameraId,
      requestId: null,
      payload: { gap_id: gap.id, gap_start: iso(gap.gapStartMs), gap_end: iso(gap.gapEndMs), seconds: (gap.gapEndMs - gap.gapStartMs) / 1000, attempt, ...spanPayload },
    });
    try {
      const url = renderReplayUrl(cam.anr, cam.mainUrl, startMs, pullEndMs);
      await store.ensureCameraDir(gap.cameraId);
      await store.discard(tmp);
      const outcome = await this.pull(url, tmp, durationSeconds, secrets);
      if (outcome === 'stopped') {
        await store.discard(tmp);
        await releaseGap(this.d.db, gap.id, back);
        return;
      }
      // An H.265 edge stream is written as hev1 by ffmpeg: given the hvc1 entry the camera's live files have.
      await rewriteHev1AsHvc1(tmp).catch((err: unknown) => this.d.log.warn({ err, cameraId: gap.cameraId }, 'rewriting the edge file\'s hev1 sample entry failed'));
      const scan = await this.readPulled(tmp);
      const finalPath = join(store.cameraDir(gap.cameraId), edgeSegmentFileName(startMs, gap.id, this.d.clock.nowMs()));
      await store.rename(tmp, finalPath);
      // insert() fsyncs the file and the folder before the row is written.
      // The file's first frame is the whole second asked for (`startMs`); its media time 0 is `zeroMs`
      // (below), and its footage lies at zeroMs + media time (time truth). The row starts at the missing span's start (the gap's start
      // on a first attempt), `spanStart − startMs` into the file — not at the whole second, since
      // indexSegment clamps between the neighbours of its start instant and a short segment may begin
      // inside that second (the last live one before the outage, or a short piece an earlier attempt
      // indexed), which would clamp the whole file away. Its end is clamped at the footage after the
      // span (invariant 4): what the file holds beyond the span is never indexed twice.
      // ffmpeg's RTSP reader stamps a connection's first frame one tick before the second: media time 0
      // is then the second frame's instant, one frame interval after the whole second asked for.
      const zeroMs = startMs + leadInMs(scan);
      await this.d.indexer.insert(
        {
          cameraId: gap.cameraId,
          absPath: finalPath,
          startMs: Math.max(spanStartMs, zeroMs),
          endMs: zeroMs + Math.round(scan.videoDurationSeconds * 1000),
          source: 'edge',
          mediaOffsetMs: Math.max(0, spanStartMs - zeroMs),
          // A lease lost since the refill began: a fence no lease matches, so the row is refused.
          fence: this.d.fenceOf ? (this.d.fenceOf(gap.cameraId) ?? { nodeId: '', token: 0 }) : undefined,
        },
        scan,
      );
      const cov = await this.coverage(gap);
      // Not filled: partial (or pending, when nothing of it is indexed), retried like a failure; a retry
      // that added nothing (the edge still lacks it) counts all the same.
      const after = cov.filled
        ? await finishGap(this.d.db, gap.id)
        : await failGapAttempt(this.d.db, gap.id, cov.text, cov.missing.length > 0 ? this.retryAtMs(attempt) : null, this.d.config.maxAttempts, cov.coveredMs > 0);
      await this.d.events.emit({
        type: 'gap_refill_succeeded',
        cameraId: gap.cameraId,
        requestId: null,
        payload: {
          gap_id: gap.id,
          state: after.fillState,
          attempt: after.fillAttempts,
          ...spanPayload,
          seconds_added: (cov.coveredMs - before.coveredMs) / 1000,
          seconds_recovered: cov.coveredMs / 1000,
          coverage: Math.round((cov.coveredMs / cov.gapMs) * 1000) / 1000,
          next_attempt_at: after.nextAttemptAtMs === null ? null : iso(after.nextAttemptAtMs),
        },
      });
    } catch (err) {
      await store.discard(tmp);
      const cov = await this.coverage(gap).catch(() => before);
      if (err instanceof NoSpaceFailure || (err as NodeJS.ErrnoException).code === 'ENOSPC') {
        await this.deferForSpace(gap, cov, redactSecrets(errorMessage(err), secrets), spanPayload);
        return;
      }
      const reason = redactSecrets(err instanceof RefillFailure || err instanceof VigilError ? err.message : `refill failed: ${errorMessage(err)}`, secrets);
      if (!(err instanceof RefillFailure || err instanceof VigilError)) this.d.log.error({ err, gapId: gap.id }, 'refill failed');
      const partly = cov.coveredMs > 0;
      // A partial gap's last_error keeps saying what is still missing; the failure follows it.
      const after = await failGapAttempt(
        this.d.db,
        gap.id,
        partly ? `${cov.text}; last attempt: ${reason}` : reason,
        cov.missing.length > 0 ? this.retryAtMs(attempt) : null,
        this.d.config.maxAttempts,
        partly,
      );
      await this.d.events.emit({
        type: 'gap_refill_failed',
        severity: after.nextAttemptAtMs === null ? 'warning' : 'info',
        cameraId: gap.cameraId,
        requestId: null,
        payload: {
          gap_id: gap.id,
          reason: redactUrl(reason).slice(0, GAP_ERROR_MAX_CHARS),
          attempt: after.fillAttempts,
          state: after.fillState,
          ...spanPayload,
          next_attempt_at: after.nextAttemptAtMs === null ? null : iso(after.nextAttemptAtMs),
        },
      });
    }
  }

  /** When the next attempt may start after attempt `attempt` did not fill its gap (the failure backoff). */
  private retryAtMs(attempt: number): number {
    return this.d.clock.nowMs() + Math.min(this.d.config.backoffInitialMs * 2 ** (attempt - 1), this.d.config.backoffMaxMs);
  }

  /**
   * The recordings disk filled up under the refill: the disk watch is told (a `disk_full` event,
   * readiness, retention asked to sweep), and the gap goes back to pending (partial, when part of it is
   * filled) without an attempt counted, retried once there is room — the edge still holds the footage.
   */
  private async deferForSpace(gap: Gap, cov: GapCoverage, detail: string, spanPayload: { span_start: string; span_end: string }): Promise<void> {
    await this.d.space?.noSpace(gap.cameraId, detail.slice(-400));
    const nextMs = this.d.clock.nowMs() + this.d.config.backoffInitialMs;
    const partly = cov.coveredMs > 0;
    const reason = `${NO_SPACE_REASON}: ${detail}`;
    const after = await deferGap(this.d.db, gap.id, partly ? `${cov.text}; last attempt: ${reason}` : reason, nextMs, partly ? 'partial' : 'pending');
    await this.d.events.emit({
      type: 'gap_refill_failed',
      severity: 'warning',
      cameraId: gap.cameraId,
      requestId: null,
      payload: {
        gap_id: gap.id,
        reason: redactUrl(reason).slice(0, GAP_ERROR_MAX_CHARS),
        attempt: after.fillAttempts,
        attempt_counted: false,
        state: after.fillState,
        ...spanPayload,
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

  /** What indexed footage covers of the gap now (edge segments after clamping, live footage too). */
  private async coverage(gap: Gap): Promise<GapCoverage> {
    return gapCoverage(gap.gapStartMs, gap.gapEndMs, await listSpans(this.d.db, gap.cameraId, gap.gapStartMs, gap.gapEndMs));
  }
}

/** What indexed footage covers of a gap, and what a refill can still ask for. */
export interface GapCoverage {
  gapMs: number;
  /** Milliseconds of the gap inside indexed footage. */
  coveredMs: number;
  /** Covered to at least FILLED_COVERAGE. */
  filled: boolean;
  /** The uncovered parts [start, end) of the gap at least MIN_PULL_MS long, earliest first. */
  missing: Array<[number, number]>;
  /** For `last_error`: how much is covered, and what is still missing. */
  text: string;
}

/** How many missing spans `last_error` names; the rest are counted. */
const MISSING_NAMED = 4;

/** Coverage of the gap [gapStartMs, gapEndMs) by footage `spans` ([start, end), any order, may overlap it partly). */
export function gapCoverage(gapStartMs: number, gapEndMs: number, spans: ReadonlyArray<readonly [number, number]>): GapCoverage {
  const gapMs = gapEndMs - gapStartMs;
  const holes: Array<[number, number]> = [];
  let cursor = gapStartMs;
  for (const [s, e] of [...spans].sort((a, b) => a[0] - b[0])) {
    if (e <= cursor) continue;
    if (s >= gapEndMs) break;
    if (s > cursor) holes.push([cursor, s]);
    cursor = e;
  }
  if (cursor < gapEndMs) holes.push([cursor, gapEndMs]);
  const coveredMs = gapMs - holes.reduce((sum, [s, e]) => sum + (e - s), 0);
  const missing = holes.filter(([s, e]) => e - s >= MIN_PULL_MS);
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const named = missing.slice(0, MISSING_NAMED).map(([s, e]) => `${iso(s)}–${iso(e)} (${seconds(e - s)})`);
  if (missing.length > MISSING_NAMED) named.push(`${missing.length - MISSING_NAMED} more`);
  const still = named.length > 0 ? named.join(', ') : 'only slivers under 1 s, which whole-second replay URLs cannot ask for';
  return {
    gapMs,
    coveredMs,
    filled: coveredMs >= FILLED_COVERAGE * gapMs,
    missing,
    text: `indexed footage covers ${seconds(coveredMs)} of the ${seconds(gapMs)} gap; still missing: ${still}`,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
