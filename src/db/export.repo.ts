import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import type { ExportState, ExportsTable } from './schema.js';

export interface ExportJob {
  id: string;
  state: ExportState;
  cameraIds: string[];
  fromMs: number;
  toMs: number;
  incidentId: string | null;
  reason: string;
  includeSegments: boolean;
  requestedBy: string;
  requestId: string | null;
  progress: number;
  sizeBytes: number | null;
  sha256: string | null;
  manifestSha256: string | null;
  error: string | null;
  attempts: number;
  createdAtMs: number;
  startedAtMs: number | null;
  finishedAtMs: number | null;
  deletedAtMs: number | null;
}

function toExport(r: Selectable<ExportsTable>): ExportJob {
  return {
    id: r.id,
    state: r.state,
    cameraIds: JSON.parse(r.camera_ids) as string[],
    fromMs: r.from_ms,
    toMs: r.to_ms,
    incidentId: r.incident_id,
    reason: r.reason,
    includeSegments: r.include_segments === 1,
    requestedBy: r.requested_by,
    requestId: r.request_id,
    progress: r.progress,
    sizeBytes: r.size_bytes,
    sha256: r.sha256,
    manifestSha256: r.manifest_sha256,
    error: r.error,
    attempts: r.attempts,
    createdAtMs: r.created_at_ms,
    startedAtMs: r.started_at_ms,
    finishedAtMs: r.finished_at_ms,
    deletedAtMs: r.deleted_at_ms,
  };
}

/** What a new job is made of; the rest starts empty (`queued`, no progress, no bundle). */
export type NewExport = Pick<ExportJob, 'id' | 'cameraIds' | 'fromMs' | 'toMs' | 'incidentId' | 'reason' | 'includeSegments' | 'requestedBy' | 'requestId'>;

export async function insertExport(db: Db, e: NewExport, nowMs: number): Promise<ExportJob> {
  const row = await db
    .insertInto('exports')
    .values({
      id: e.id,
      state: 'queued',
      camera_ids: JSON.stringify(e.cameraIds),
      from_ms: e.fromMs,
      to_ms: e.toMs,
      incident_id: e.incidentId,
      reason: e.reason,
      include_segments: e.includeSegments ? 1 : 0,
      requested_by: e.requestedBy,
      request_id: e.requestId,
      size_bytes: null,
      sha256: null,
      manifest_sha256: null,
      error: null,
      created_at_ms: nowMs,
      started_at_ms: null,
      finished_at_ms: null,
      deleted_at_ms: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toExport(row);
}

export async function getExport(db: Db, id: string): Promise<ExportJob | undefined> {
  const row = await db.selectFrom('exports').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toExport(row) : undefined;
}

/** Newest first; `beforeMs`/`beforeId` continue a page. */
export async function listExports(db: Db, q: { limit: number; incidentId?: string | undefined; after?: { createdAtMs: number; id: string } | undefined }): Promise<ExportJob[]> {
  let query = db.selectFrom('exports').selectAll();
  if (q.incidentId !== undefined) query = query.where('incident_id', '=', q.incidentId);
  if (q.after) {
    const a = q.after;
    query = query.where((eb) => eb.or([eb('created_at_ms', '<', a.createdAtMs), eb.and([eb('created_at_ms', '=', a.createdAtMs), eb('id', '<', a.id)])]));
  }
  const rows = await query.orderBy('created_at_ms', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
  return rows.map(toExport);
}

/** Jobs a stop interrupted (or never started): resumed at start-up. */
export async function unfinishedExports(db: Db): Promise<ExportJob[]> {
  const rows = await db.selectFrom('exports').selectAll().where('state', 'in', ['queued', 'running']).orderBy('created_at_ms').execute();
  return rows.map(toExport);
}

export async function markExportRunning(db: Db, id: string, nowMs: number): Promise<void> {
  await db
    .updateTable('exports')
    .set((eb) => ({ state: 'running', progress: 0, started_at_ms: nowMs, attempts: eb('attempts', '+', 1), error: null }))
    .where('id', '=', id)
    .execute();
}

export async function setExportProgress(db: Db, id: string, progress: number): Promise<void> {
  await db.updateTable('exports').set({ progress }).where('id', '=', id).where('state', '=', 'running').execute();
}

export async function markExportDone(db: Db, id: string, r: { sizeBytes: number; sha256: string; manifestSha256: string }, nowMs: number): Promise<void> {
  await db
    .updateTable('exports')
    .set({ state: 'done', progress: 100, size_bytes: r.sizeBytes, sha256: r.sha256, manifest_sha256: r.manifestSha256, finished_at_ms: nowMs })
    .where('id', '=', id)
    .execute();
}

export async function markExportFailed(db: Db, id: string, error: string, nowMs: number): Promise<void> {
  await db.updateTable('exports').set({ state: 'failed', error, finished_at_ms: nowMs }).where('id', '=', id).execute();
}

export async function markExportDeleted(db: Db, id: string, nowMs: number): Promise<void> {
  await db.updateTable('exports').set({ state: 'deleted', deleted_at_ms: nowMs }).where('id', '=', id).execute();
}
