import { stat } from 'node:fs/promises';
import type { Db } from '../db/connection.js';
import { clearReadLocks } from '../db/read-lock.repo.js';
import { listTombstones } from '../db/retention.repo.js';
import { allSegmentsForCheck, deleteRowWithoutFile } from '../db/check.repo.js';
import { getSegmentByPath } from '../db/segment.repo.js';
import type { EventLog } from '../events/event-log.js';
import type { FootageStore } from './footage-store.js';
import { Fmp4Error } from '../media/fmp4/scan.js';
import { placementMismatch, type FileFootage } from './placement.js';
import { deepCheck, type DeepProblemKind, type DeepReport } from './deep-check.js';
import type { Signer } from '../shared/evidence-hash.js';

export type ProblemKind =
  | DeepProblemKind
  | 'missing_file'
  | 'size_mismatch'
  | 'unindexed_file'
  | 'overlap'
  | 'stale_read_lock'
  | 'unresolved_tombstone'
  /** A row's placement of its file on the timeline disagrees with the file (placement.ts). */
  | 'placement_mismatch';

export interface Problem {
  kind: ProblemKind;
  path?: string;
  segmentId?: number;
  detail: string;
}

export interface CheckReport {
  online: boolean;
  rows: number;
  files: number;
  problems: Problem[];
  repaired: string[];
  /** Files a running recorder is still writing (online only): not problems. */
  inProgress: number;
  /**
   * Rows whose file is there but is not a readable fragmented MP4, so their placement could not be
   * checked (the indexer never indexes such a file: its bytes changed, which `--deep` names).
   */
  notPlaced: number;
  /** `--deep`: files re-hashed, chains walked. */
  deep?: DeepReport;
}

export interface CheckDeps {
  db: Db;
  store: FootageStore;
  events: EventLog;
  /** `--repair`: indexes a camera's files that have no row (the indexer's start-up reconciliation). */
  reindex: (cameraId: string) => Promise<{ recovered: number; discarded: number }>;
  /** How many tombstones `--repair` finishes per batch. */
  batchSize: number;
  /** The file system's stat (a seam for tests that race a deletion against the check). */
  statFile?: (absPath: string) => Promise<{ size: number; mtimeMs: number } | undefined>;
  /** Signs the deletion link of a row `--repair` removes. */
  signer?: Signer;
}

/**
 * The file's video footage from its boxes (a read of its headers, not of its media), 'unreadable' when
 * it is not a fragmented MP4, undefined when it is gone since its stat (deleted by a running Vigil).
 */
async function readFootage(store: FootageStore, absPath: string): Promise<FileFootage | 'unreadable' | undefined> {
  try {
    return await store.scan(absPath);
  } catch (err) {
    if (err instanceof Fmp4Error) return 'unreadable';
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A file this recent may still be written by a running recorder (longer than any segment). */
const IN_PROGRESS_MS = 3700_000;

/**
 * Consistency of the catalog with the disk (invariants 4 and 5): every row's file exists with its size
 * and holds the footage where the row places it (time truth: placement.ts, from the file's boxes
 * only), every recording file has a row, no overlaps per camera, no stale read-locks or tombstones
 * when Vigil is not running. `repair` fixes what is safe and never deletes evidence. `deep` also
 * re-hashes every file and verifies every camera's signed hash chain (deep-check.ts).
 */
export async function checkCatalog(d: CheckDeps, opts: { repair: boolean; online: boolean; nowMs: number; deep?: boolean }): Promise<CheckReport> {
  const report: CheckReport = { online: opts.online, rows: 0, files: 0, problems: [], repaired: [], inProgress: 0, notPlaced: 0 };
  const statFile = d.statFile ?? ((p: string) => stat(p).catch(() => undefined));

  const tombstones = await listTombstones(d.db, undefined, d.store.nodeId);
  // A tombstoned file is a deletion under way (or interrupted): not an unindexed file.
  const tombstoned = new Set(tombstones.map((t) => t.path));
  if (!opts.online) {
    for (const t of tombstones) report.problems.push({ kind: 'unresolved_tombstone', path: t.path, detail: 'deletion interrupted' });
    if (opts.repair && tombstones.length > 0) {
      report.repaired.push(`finished ${await d.store.finishDeletions(d.db, d.batchSize)} interrupted deletions`);
    }
  }

  const rows = await allSegmentsForCheck(d.db);
  report.rows = rows.length;
  const byPath = new Map(rows.map((r) => [r.path, r]));
  let prev: (typeof rows)[number] | undefined;
  for (const r of rows) {
    if (prev && prev.cameraId === r.cameraId && prev.endMs > r.startMs) {
      report.problems.push({ kind: 'overlap', segmentId: r.id, path: r.path, detail: `overlaps segment ${prev.id} by ${prev.endMs - r.startMs} ms` });
    }
    prev = r;
    // In a cluster, another node's files are in its own data dir: its rows are checked there (overlaps,
    // above, are checked across every node's rows).
    if (r.nodeId !== null && d.store.nodeId !== undefined && r.nodeId !== d.store.nodeId) {
      report.rows--;
      continue;
    }
    if (!opts.online && r.locked > 0) {
      report.problems.push({ kind: 'stale_read_lock', segmentId: r.id, path: r.path, detail: `locked = ${r.locked} with no reader running` });
    }
    const st = await statFile(d.store.absPath(r.path));
    // Online, retention may delete a row and its file between reading the rows and this stat: a row that
    // is gone by now was deleted, not lost.
    if (!st && opts.online && !(await getSegmentByPath(d.db, r.path))) {
      report.rows--;
      continue;
    }
    if (!st) {
      report.problems.push({ kind: 'missing_file', segmentId: r.id, path: r.path, detail: r.evidenceLocked ? 'file gone (evidence: row kept)' : 'file gone' });
      if (opts.repair && !r.evidenceLocked && (await deleteRowWithoutFile(d.db, r.id, opts.nowMs, d.signer)) > 0) {
        report.repaired.push(`removed row ${r.id} whose file ${r.path} is gone`);
        await d.events.emit({ type: 'segment_row_removed', severity: 'warning', cameraId: r.cameraId, requestId: null, payload: { segment_id: r.id, path: r.path, reason: 'file gone' } });
      }
    } else {
      if (st.size !== r.sizeBytes) {
        report.problems.push({ kind: 'size_mismatch', segmentId: r.id, path: r.path, detail: `file has ${st.size} B, row says ${r.sizeBytes} B` });
      }
      // Report only, never repaired: the footage is whole, only where the row puts it is in doubt, and
      // which fact is wrong — the offset, or the start or end that its signed chain link holds — the
      // check cannot tell (a refill from before media_offset_ms needs both its offset and its end).
      const footage = await readFootage(d.store, d.store.absPath(r.path));
      if (footage === 'unreadable') report.notPlaced++;
      const mismatch = footage && footage !== 'unreadable' ? placementMismatch(r, footage) : undefined;
      if (mismatch) report.problems.push({ kind: 'placement_mismatch', segmentId: r.id, path: r.path, detail: mismatch });
    }
  }
  if (!opts.online && opts.repair && report.problems.some((p) => p.kind === 'stale_read_lock')) {
    report.repaired.push(`cleared ${await clearReadLocks(d.db, d.store.nodeId)} stale read-locks`);
  }

  for (const cameraId of await d.store.cameraIds()) {
    const names = await d.store.fileNames(cameraId);
    let unindexed = 0;
    for (const name of names) {
      report.files++;
      const rel = d.store.catalogPath(cameraId, name);
      if (byPath.has(rel) || tombstoned.has(rel)) continue;
      const st = await statFile(d.store.absPath(rel));
      // Gone since the folder was listed: renamed to its indexed name, or deleted, by the running Vigil.
      if (!st) continue;
      if (opts.online && opts.nowMs - st.mtimeMs < IN_PROGRESS_MS) {
        report.inProgress++;
        continue;
      }
      unindexed++;
      report.problems.push({ kind: 'unindexed_file', path: rel, detail: 'no row' });
    }
    if (opts.repair && !opts.online && unindexed > 0) {
      const r = await d.reindex(cameraId);
      report.repaired.push(`${cameraId}: indexed ${r.recovered} files, removed ${r.discarded} unplayable ones`);
    }
  }
  if (opts.deep) {
    // After any repair: the chain then includes the repair's own signed deletion links.
    report.deep = await deepCheck(d, { rehash: true, statFile });
    for (const p of report.deep.problems) {
      report.problems.push({
        kind: p.kind,
        ...(p.path !== undefined ? { path: p.path } : {}),
        ...(p.segmentId !== undefined ? { segmentId: p.segmentId } : {}),
        detail: `${p.cameraId}${p.seq !== undefined ? ` link ${p.seq}` : ''}: ${p.detail}`,
      });
    }
  }
  return report;
}
