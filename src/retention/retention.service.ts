import type { Logger } from 'pino';
import type { RetentionConfig } from '../config/config.js';
import type { Db } from '../db/connection.js';
import {
  bytesByCamera,
  deleteToTombstones,
  listDeletable,
  retentionPolicies,
  type Candidate,
  type RetentionPolicy,
} from '../db/retention.repo.js';
import type { DeleteReason } from '../db/schema.js';
import { compactChain } from '../db/chain.repo.js';
import { deleteMotionBefore, oldestSegmentStart } from '../db/motion.repo.js';
import { MOTION_PRE_ROLL_MS } from '../shared/camera-settings.js';
import { isTransientWriteError } from '../db/write-errors.js';
import type { EventLog } from '../events/event-log.js';
import type { Clock } from '../shared/clock.js';
import type { Signer } from '../shared/evidence-hash.js';
import { sleep } from '../shared/sleep.js';
import { probeDisk, type DiskProbe } from '../storage/disk.js';
import type { FootageStore } from '../storage/footage-store.js';
import { reclaimOrphans } from '../storage/orphan-files.js';

/** The free space `retention.min_free_bytes` asks for on a disk of `totalBytes`. */
export function floorBytes(config: RetentionConfig, totalBytes: number): number {
  return 'bytes' in config.minFree ? config.minFree.bytes : config.minFree.fraction * totalBytes;
}

export interface SweepTotals {
  segments: number;
  bytes: number;
}

export interface SweepReport {
  dryRun: boolean;
  byReason: Partial<Record<DeleteReason, SweepTotals>>;
  /** Set when only held or read-locked footage is left and a limit is still exceeded. */
  blocked: { reason: DeleteReason; detail: string } | null;
}

export interface RetentionDeps {
  db: Db;
  /** Deletes the files (crash-ordered, with the tombstones written here) and finds orphans. */
  store: FootageStore;
  clock: Clock;
  events: EventLog;
  log: Logger;
  config: RetentionConfig;
  disk?: DiskProbe;
  /** Signs each deletion's link in its camera's chain (invariant 10). */
  signer?: Signer;
}

/**
 * The retention sweeper. In order: (a) age per camera, (b) per-camera quota, (c) global cap,
 * (d) free-disk floor — oldest first, in batches that yield to the event loop. It never deletes a
 * segment that is read-locked or evidence-locked: the delete statement itself carries that condition.
 * Every deletion is crash-ordered: row → tombstone (one transaction), unlink + fsync, drop tombstone.
 */
export class RetentionService {
  private readonly abort = new AbortController();
  /** Whether files with no row may be reclaimed yet (see start()). */
  private orphansAllowed = true;
  /** When the last look for orphans began. */
  private lastOrphanPassMs = Number.NEGATIVE_INFINITY;
  private loop: Promise<void> | undefined;
  private running: Promise<SweepReport> | undefined;
  private lastBlocked: SweepReport['blocked'] = null;
  private readonly disk: DiskProbe;
  /** Ends the loop's current wait early (a reloaded config sweeps at once, then waits its new interval). */
  private nap = new AbortController();
  private settings: RetentionConfig;

  constructor(private readonly d: RetentionDeps) {
    this.disk = d.disk ?? probeDisk;
    this.settings = d.config;
  }

  /** The settings in force (a config reload replaces them). */
  get config(): RetentionConfig {
    return this.settings;
  }

  /** New settings from a reloaded config file: the next sweep, started now when the loop runs, uses them. */
  setConfig(next: RetentionConfig): void {
    this.settings = next;
    this.nap.abort();
  }

  /** The last sweep's block, for readiness. */
  get blocked(): SweepReport['blocked'] {
    return this.lastBlocked;
  }

  /**
   * Files with no row are reclaimed as orphans only once `reclaimOrphansAfter` has resolved: at start-up,
   * the files a crash left have no row until reconciliation indexes them, and the first sweep runs
   * beside it (a file of a Vigil stopped longer than the grace period would go as an orphan instead of
   * being recovered).
   */
  start(opts: { reclaimOrphansAfter?: Promise<unknown> } = {}): void {
    if (opts.reclaimOrphansAfter) {
      this.orphansAllowed = false;
      void opts.reclaimOrphansAfter.then(() => (this.orphansAllowed = true), () => undefined);
    }
    this.loop ??= (async () => {
      const signal = this.abort.signal;
      while (!signal.aborted) {
        // Made before the sweep: settings replaced during it end the wait that follows at once.
        this.nap = new AbortController();
        try {
          await this.sweepOnce({ dryRun: false });
        } catch (err) {
          this.d.log.error({ err }, 'retention sweep failed');
        }
        await sleep(this.settings.intervalSeconds * 1000, AbortSignal.any([signal, this.nap.signal]));
      }
    })();
  }

  /** Ends the loop and waits for a sweep in progress, whoever asked for it (the disk watch, a CLI). */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await this.running?.catch(() => undefined);
  }

  /** Finishes deletions a crash interrupted: unlink what the tombstones name, then drop them. */
  finishTombstones(): Promise<number> {
    return this.d.store.finishDeletions(this.d.db, this.settings.batchSize);
  }

  /** One sweep; concurrent callers share the sweep in progress. */
  sweepOnce(opts: { dryRun: boolean }): Promise<SweepReport> {
    if (this.running) return this.running;
    this.running = this.sweep(opts.dryRun).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async sweep(dryRun: boolean): Promise<SweepReport> {
    const report: SweepReport = { dryRun, byReason: {}, blocked: null };
    const now = this.d.clock.nowMs();
    if (!dryRun) await this.finishTombstones();
    const planned = new Set<number>();
    const policies = await retentionPolicies(this.d.db);
    const bytes = await bytesByCamera(this.d.db, this.d.store.nodeId);

    // (a) age; with motion-aware retention, footage without motion by retention_hours and all of it
    // by retention_hours_motion (a segment overlapping motion, widened by its pre/post roll, has motion)
    for (const p of policies) {
      if (p.retentionHours === null) continue;
      const cutoff = now - p.retentionHours * 3600_000;
      if (p.retentionHoursMotion === null) {
        await this.deleteWhile(report, 'age', { cameraId: p.id, endedByMs: cutoff }, () => true, planned, bytes);
        continue;
      }
      const motionCutoff = now - Math.max(p.retentionHours, p.retentionHoursMotion) * 3600_000;
      await this.deleteWhile(report, 'age', { cameraId: p.id, endedByMs: motionCutoff }, () => true, planned, bytes);
      const withoutMotion = { preRollMs: MOTION_PRE_ROLL_MS, postRollMs: p.motionPostRollMs };
      await this.deleteWhile(report, 'age', { cameraId: p.id, endedByMs: cutoff, withoutMotion }, () => true, planned, bytes);
    }
    // (b) per-camera quota
    for (const p of policies) {
      if (p.storageQuotaBytes === null) continue;
      const quota = p.storageQuotaBytes;
      const over = () => (bytes.get(p.id) ?? 0) > quota;
      if (!over()) continue;
      await this.deleteWhile(report, 'camera_quota', { cameraId: p.id }, over, planned, bytes);
      if (over()) report.blocked ??= { reason: 'camera_quota', detail: `camera ${p.id} is over its quota with only held or read-locked footage left` };
    }
    // (c) global cap
    const cap = this.settings.maxBytes;
    if (cap !== null) {
      const total = () => [...bytes.values()].reduce((a, b) => a + b, 0);
      await this.deleteWhile(report, 'global_cap', {}, () => total() > cap, planned, bytes);
      if (total() > cap) report.blocked ??= { reason: 'global_cap', detail: 'footage exceeds retention.max_bytes with only held or read-locked footage left' };
    }
    // (d) free-disk floor, on the disk the recordings are written to (often not the data dir's own)
    const recordings = this.d.store.root;
    let space = await this.disk(recordings);
    const floor = floorBytes(this.settings, space.totalBytes);
    let freedSinceProbe = 0;
    const short = (chosenBytes = 0) => space.freeBytes + freedSinceProbe + chosenBytes < floor;
    if (short()) {
      await this.deleteWhile(report, 'disk_floor', {}, short, planned, bytes, async (freed) => {
        if (dryRun) freedSinceProbe += freed;
        else space = await this.disk(recordings);
      });
      if (short()) {
        report.blocked = { reason: 'disk_floor', detail: `free space ${space.freeBytes} B is below the floor of ${Math.round(floor)} B and only held or read-locked footage is left` };
      }
    }
    if (!dryRun) {
      await this.pruneMotion(policies, now);
      // Looking for orphans reads every row's path and lists every camera's folder (a month of 10-s
      // segments: ~1 s of CPU per camera): done every half grace period, not every sweep. A file
      // waits for the grace period before it is reclaimed anyway.
      const orphanEveryMs = Math.max(this.settings.intervalSeconds, this.settings.orphanGraceSeconds / 2) * 1000;
      if (this.orphansAllowed && now - this.lastOrphanPassMs >= orphanEveryMs) {
        this.lastOrphanPassMs = now;
        const orphans = await reclaimOrphans(this.d, now);
        if (orphans.segments > 0) report.byReason.orphan = orphans;
      }
      await this.compactChains(policies.map((p) => p.id));
    }
    await this.announce(report);
    return report;
  }

  /**
   * Deletes (or, dry, plans) the oldest deletable segments matching `q` while `more()` holds,
   * one batch at a time, yielding to the event loop between batches.
   */
  private async deleteWhile(
    report: SweepReport,
    reason: DeleteReason,
    q: { cameraId?: string; endedByMs?: number; withoutMotion?: { preRollMs: number; postRollMs: number } },
    /** Whether more must go, given the bytes already chosen in the current batch. */
    more: (chosenBytes: number) => boolean,
    planned: Set<number>,
    bytes: Map<string, number>,
    afterBatch?: (freedBytes: number) => Promise<void>,
  ): Promise<void> {
    const batchSize = this.settings.batchSize;
    let after: { startMs: number; id: number } | undefined;
    while (more(0) && !this.abort.signal.aborted) {
      const page = await listDeletable(this.d.db, { ...q, nodeId: this.d.store.nodeId, after, limit: batchSize });
      if (page.length === 0) return;
      // Take only as many as the limit needs (quota/cap/floor), all of them for age. The next page starts
      // after the last candidate looked at, not the page's last: the floor is measured again after each
      // batch, and when the recorders wrote meanwhile the rest of this page is needed after all.
      const chosen: Candidate[] = [];
      let chosenBytes = 0;
      for (const c of page) {
        if (!planned.has(c.id)) {
          if (reason !== 'age' && !more(chosenBytes)) break;
          chosen.push(c);
          chosenBytes += c.sizeBytes;
          planned.add(c.id);
          bytes.set(c.cameraId, (bytes.get(c.cameraId) ?? 0) - c.sizeBytes);
        }
        after = { startMs: c.startMs, id: c.id };
      }
      let gone = chosen;
      if (!report.dryRun && chosen.length > 0) {
        gone = await deleteToTombstones(this.d.db, chosen.map((c) => c.id), reason, this.d.clock.nowMs(), this.d.signer);
        // A lock that won the race keeps its segment, and its bytes.
        const goneIds = new Set(gone.map((g) => g.id));
        for (const c of chosen) if (!goneIds.has(c.id)) bytes.set(c.cameraId, (bytes.get(c.cameraId) ?? 0) + c.sizeBytes);
        await this.d.store.deleteTombstoned(this.d.db, gone.map((g) => g.path));
      }
      const freed = gone.reduce((a, g) => a + g.sizeBytes, 0);
      const t = (report.byReason[reason] ??= { segments: 0, bytes: 0 });
      t.segments += gone.length;
      t.bytes += freed;
      await afterBatch?.(freed);
      // Let HTTP requests in between batches.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * Motion intervals go with their footage: those that ended before a camera's oldest segment. A camera
   * with no segment left (a deleted camera, or one not indexed yet) keeps them until its age limit.
   */
  private async pruneMotion(policies: RetentionPolicy[], now: number): Promise<void> {
    for (const p of policies) {
      const cameraId = p.id;
      const oldest = await oldestSegmentStart(this.d.db, cameraId);
      const hours = p.retentionHours === null ? null : Math.max(p.retentionHours, p.retentionHoursMotion ?? 0);
      const before = oldest ?? (hours === null ? undefined : now - hours * 3600_000);
      if (before === undefined) continue;
      const removed = await deleteMotionBefore(this.d.db, cameraId, before);
      if (removed > 0) this.d.log.debug({ cameraId, intervals: removed }, 'motion intervals of deleted footage removed');
    }
  }

  /**
   * Replaces the chain links of footage that is gone by a signed checkpoint (invariant 10), so that
   * the chains do not outgrow the footage they describe. A failure is logged: the chain stays whole,
   * only longer, and the next sweep tries again.
   */
  private async compactChains(cameraIds: string[]): Promise<void> {
    const signer = this.d.signer;
    if (!signer) return;
    for (const cameraId of cameraIds) {
      try {
        const removed = await compactChain(this.d.db, cameraId, signer, this.d.clock.nowMs());
        if (removed > 0) this.d.log.debug({ cameraId, links: removed }, 'chain compacted');
      } catch (err) {
        if (isTransientWriteError(err)) throw err;
        this.d.log.error({ err, cameraId }, 'chain compaction failed');
      }
    }
  }

  private async announce(report: SweepReport): Promise<void> {
    const deleted = Object.values(report.byReason).reduce((a, t) => a + t.segments, 0);
    if (deleted > 0 && !report.dryRun) {
      await this.d.events.emit({
        type: 'retention_deleted',
        requestId: null,
        payload: {
          segments: deleted,
          bytes: Object.values(report.byReason).reduce((a, t) => a + t.bytes, 0),
          by_reason: report.byReason,
        },
      });
    }
    const wasBlocked = this.lastBlocked;
    if (!report.dryRun) this.lastBlocked = report.blocked;
    if (report.blocked && !report.dryRun && (!wasBlocked || wasBlocked.reason !== report.blocked.reason)) {
      await this.d.events.emit({
        type: 'retention_blocked',
        severity: 'critical',
        requestId: null,
        payload: { reason: report.blocked.reason, detail: report.blocked.detail },
      });
    }
  }
}
