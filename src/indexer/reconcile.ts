import { dirname, join } from 'node:path';
import type { Db } from '../db/connection.js';
import { isTombstoned } from '../db/retention.repo.js';
import { lastSegment, listPathsUnder, nodeIdsOfPaths } from '../db/segment.repo.js';
import { Fmp4Error, scanFmp4, truncateToLastCompleteFragment, type Fmp4Scan } from '../media/fmp4/scan.js';
import { nameTimeMs, OPEN_SEGMENT_NAME_PATTERN, SEGMENT_NAME_PATTERN, segmentFileName } from '../storage/segment-names.js';
import { errorMessage } from '../shared/errors.js';
import type { Indexer } from './indexer.service.js';
import type { Fence } from '../db/cluster.repo.js';
import type { EventLog } from '../events/event-log.js';

export interface ReconcileDeps {
  db: Db;
  indexer: Indexer;
  events: EventLog;
}

export interface ReconcileReport {
  recovered: number;
  discarded: number;
  missing: number;
}

/**
 * Indexes the camera's files that have no row: files a crash (of Vigil or of ffmpeg) left behind.
 * Each is cut back to its last whole fragment (fragmented MP4 survives truncation) and indexed, or
 * removed with an event if nothing in it is playable. With `runId`, only that recorder run's files
 * are considered (the others may belong to a recorder that is still writing); `skipRun` leaves out the
 * runs of recorders this process started (start-up reconciliation runs beside them).
 * With `reportMissing`, rows whose file is gone are reported (start-up only).
 */
export async function reconcileCamera(
  d: ReconcileDeps,
  cameraId: string,
  opts: { runId?: string; reportMissing?: boolean; skipRun?: (runId: string) => boolean; fence?: Fence | undefined } = {},
): Promise<ReconcileReport> {
  const report: ReconcileReport = { recovered: 0, discarded: 0, missing: 0 };
  const store = d.indexer.store;
  const dir = store.cameraDir(cameraId);
  const prefix = store.cameraPrefix(cameraId);
  // A run's own reconciliation (at each recorder exit) looks up that run's files alone: the camera's
  // whole listing of indexed paths is a catalog read of up to a second per camera-month.
  const byRun = opts.runId !== undefined && !opts.reportMissing;
  const listed = (await store.fileNames(cameraId)).map(segmentFileOf);
  const files = byRun ? listed.filter((f) => f.run?.id === opts.runId) : listed;
  const names = files.map((f) => f.name);
  const indexed = byRun ? new Set((await nodeIdsOfPaths(d.db, names.map((n) => prefix + n))).keys()) : await listPathsUnder(d.db, prefix);
  // A tombstoned file is being deleted: indexing it again would resurrect deleted footage.
  const tombstoned = await isTombstoned(d.db, names.map((n) => prefix + n).filter((p) => !indexed.has(p)));
  for (const { name, run } of files) {
    if (!run || indexed.has(prefix + name) || tombstoned.has(prefix + name)) continue;
    if (opts.runId !== undefined && run.id !== opts.runId) continue;
    // A run of this process: its recorder indexes it (or reconciles it when it ends).
    if (opts.skipRun?.(run.id)) continue;
    const absPath = join(dir, name);
    const outcome = await recoverFile(d, cameraId, absPath, name, run.startMs, run.id, run.openSeq, opts.fence);
    if (outcome === 'recovered') report.recovered++;
    else report.discarded++;
  }
  if (opts.reportMissing) {
    const onDisk = new Set(names.map((n) => prefix + n));
    const gone = [...indexed].filter((path) => !onDisk.has(path));
    const nodeOf = await nodeIdsOfPaths(d.db, gone);
    for (const path of gone) {
      // In a cluster, only this node's rows: the other nodes' files are in their own data dirs. A row
      // deleted since the listing has no node here: not missing either.
      if (!nodeOf.has(path) || nodeOf.get(path) !== (d.indexer.nodeId ?? null)) continue;
      report.missing++;
      await d.events.emit({
        type: 'segment_missing',
        severity: 'critical',
        cameraId,
        requestId: null,
        payload: { path, reason: 'indexed segment file is not on disk' },
      });
    }
  }
  return report;
}

/**
 * A file of the camera's folder as its name says: the recorder run it belongs to (final or ffmpeg's
 * name; none for any other file), when that run started, and for a file under ffmpeg's name its number
 * in the run.
 */
function segmentFileOf(name: string): { name: string; run?: { id: string; startMs: number; openSeq?: string } } {
  const m = SEGMENT_NAME_PATTERN.exec(name);
  if (m) return { name, run: { id: m[2] as string, startMs: nameTimeMs(m[1] as string) } };
  const open = OPEN_SEGMENT_NAME_PATTERN.exec(name);
  // A file under ffmpeg's name was never renamed: its run started at the instant its id encodes.
  if (open) return { name, run: { id: open[1] as string, startMs: parseInt(open[1] as string, 36), openSeq: open[2] as string } };
  return { name };
}

async function recoverFile(
  d: ReconcileDeps,
  cameraId: string,
  absPath: string,
  name: string,
  fallbackStartMs: number,
  runId: string,
  /** Set for a file under ffmpeg's name: its number in the run; it is renamed before it is indexed. */
  openSeq?: string,
  fence?: Fence,
): Promise<'recovered' | 'discarded'> {
  let scan: Fmp4Scan;
  let truncatedBytes = 0;
  try {
    scan = await scanFmp4(absPath);
    if (!scan.complete && scan.fragmentCount > 0) {
      const before = scan.fileSizeBytes;
      scan = await truncateToLastCompleteFragment(absPath);
      truncatedBytes = before - scan.fileSizeBytes;
    }
  } catch (err) {
    if (!(err instanceof Fmp4Error)) throw err;
    await d.indexer.discard(cameraId, absPath, `not a readable MP4: ${errorMessage(err)}`);
    return 'discarded';
  }
  if (scan.fragmentCount === 0 || scan.videoDurationSeconds <= 0) {
    await d.indexer.discard(cameraId, absPath, 'no complete fragment');
    return 'discarded';
  }
  // Best start estimate: right after the same run's previous segment (the run's media timeline is
  // continuous); otherwise the UTC second its name records (or, under ffmpeg's name, the run's start).
  const prev = await lastSegment(d.db, cameraId);
  const prevRun = prev ? SEGMENT_NAME_PATTERN.exec(prev.path.slice(prev.path.lastIndexOf('/') + 1))?.[2] : undefined;
  const startMs = prev && prevRun === runId ? prev.endMs : fallbackStartMs;
  let path = absPath;
  if (openSeq !== undefined) {
    path = join(dirname(absPath), segmentFileName(startMs, runId, openSeq));
    await d.indexer.store.rename(absPath, path);
  }
  const file = await d.indexer.cutAtTimeJump({ cameraId, absPath: path, startMs, endMs: startMs + Math.round(scan.videoDurationSeconds * 1000), source: 'recovered' }, scan);
  const result = await d.indexer.insert({ ...file, fence }, scan);
  if (!result?.segment) return 'discarded';
  await d.events.emit({
    type: 'segment_recovered',
    severity: 'info',
    cameraId,
    requestId: null,
    payload: {
      segment_id: result.segment.id,
      file: name,
      seconds: result.segment.durationMs / 1000,
      truncated_bytes: truncatedBytes,
    },
  });
  return 'recovered';
}
