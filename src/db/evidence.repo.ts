import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { ExpressionBuilder } from 'kysely';
import type { Db } from './connection.js';
import type { Database } from './schema.js';
import { MAX_SEGMENT_MS, toSegment, type Segment } from './segment.repo.js';

/**
 * Evidence holds: the DURABLE `evidence_locked` flag and the `incident_id` case tag. Nothing here
 * deletes anything; retention's conditional delete is what keeps a held segment on disk.
 */

/** Same mapping as `segment.repo.ts` (its mapper is private there); the `Segment` type keeps them in step. */

/** `incident_id = COALESCE(?, incident_id)`: without a tag, the existing one is kept (invariant 3). */
function holdColumns(locked: boolean, incidentId: string | undefined) {
  return (eb: ExpressionBuilder<Database, 'segments'>) => ({
    evidence_locked: locked ? 1 : 0,
    incident_id: eb.fn.coalesce(eb.val<string | null>(incidentId ?? null), eb.ref('incident_id')),
  });
}

export async function getSegment(db: Db, id: number): Promise<Segment | undefined> {
  const r = await db.selectFrom('segments').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toSegment(r);
}

/**
 * Sets or clears the durable evidence lock on one segment. A given `incidentId` is recorded; when
 * it is undefined the existing tag is kept, so neither locking nor unlocking ever erases the case a
 * segment belongs to. Returns rows affected: 0 ⇒ no such segment.
 */
export async function setEvidenceLocked(db: Db, segmentId: number, locked: boolean, incidentId: string | undefined): Promise<number> {
  const res = await db.updateTable('segments').set(holdColumns(locked, incidentId)).where('id', '=', segmentId).executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** Sets the incident tag, or clears it explicitly with null; the hold is untouched. Rows affected. */
export async function setIncident(db: Db, segmentId: number, incidentId: string | null): Promise<number> {
  const res = await db.updateTable('segments').set({ incident_id: incidentId }).where('id', '=', segmentId).executeTakeFirst();
  return Number(res.numUpdatedRows);
}

export interface RangeHoldResult {
  /** Segments overlapping the range that were set (already in that state or not). */
  segments: number;
  bytes: number;
  /** Tags other than the one given that those segments carried before (only when a tag was given). */
  previousIncidentIds: string[];
}

/**
 * Holds (or releases) every segment of a camera overlapping [from, to) — a segment straddling `from`
 * is included, one ending exactly at `from` is not. Batched by (start_ms, id), one transaction per
 * batch, yielding to the event loop between batches so a long range never stalls the HTTP server.
 * A batch is atomic; the whole range is not, and a retry of the same call is harmless.
 */
export async function setEvidenceLockedRange(
  db: Db,
  cameraId: string,
  fromMs: number,
  toMs: number,
  locked: boolean,
  incidentId?: string,
  batchSize = 500,
): Promise<RangeHoldResult> {
  const result: RangeHoldResult = { segments: 0, bytes: 0, previousIncidentIds: [] };
  const previous = new Set<string>();
  let after: { startMs: number; id: number } | undefined;
  for (;;) {
    const batch = await db.transaction().execute(async (trx) => {
      let q = trx
        .selectFrom('segments')
        .select(['id', 'start_ms', 'incident_id'])
        .where('camera_id', '=', cameraId)
        .where('start_ms', '>', fromMs - MAX_SEGMENT_MS)
        .where('start_ms', '<', toMs)
        .where('end_ms', '>', fromMs);
      if (after) {
        const a = after;
        q = q.where((eb) => eb.or([eb('start_ms', '>', a.startMs), eb.and([eb('start_ms', '=', a.startMs), eb('id', '>', a.id)])]));
      }
      const rows = await q.orderBy('start_ms').orderBy('id').limit(batchSize).execute();
      if (rows.length === 0) return { rows, updated: [] };
      const updated = await trx
        .updateTable('segments')
        .set(holdColumns(locked, incidentId))
        .where('id', 'in', rows.map((r) => r.id))
        .returning(['id', 'size_bytes'])
        .execute();
      return { rows, updated };
    });
    result.segments += batch.updated.length;
    for (const u of batch.updated) result.bytes += u.size_bytes;
    if (incidentId !== undefined) {
      for (const r of batch.rows) if (r.incident_id !== null && r.incident_id !== incidentId) previous.add(r.incident_id);
    }
    const last = batch.rows.at(-1);
    if (!last || batch.rows.length < batchSize) break;
    after = { startMs: last.start_ms, id: last.id };
    await yieldToLoop();
  }
  result.previousIncidentIds = [...previous].sort();
  return result;
}

export interface Incident {
  id: string;
  segments: number;
  bytes: number;
  firstMs: number;
  lastMs: number;
  cameraIds: string[];
}

/**
 * Every incident tag in use, by id: its segments (held or not — a released segment keeps its tag),
 * their bytes, the first start and last end, and the cameras. Two plain queries rather than an
 * engine-specific string aggregate, so the same code runs on SQLite and PostgreSQL.
 */
export async function listIncidents(db: Db, cameraIds?: readonly string[]): Promise<Incident[]> {
  if (cameraIds?.length === 0) return [];
  const totals = await db
    .selectFrom('segments')
    .select((eb) => [
      'incident_id',
      eb.fn.countAll<number>().as('n'),
      eb.fn.sum<number>('size_bytes').as('bytes'),
      eb.fn.min('start_ms').as('first_ms'),
      eb.fn.max('end_ms').as('last_ms'),
    ])
    .where('incident_id', 'is not', null)
    .$if(cameraIds !== undefined, (q) => q.where('camera_id', 'in', cameraIds ?? []))
    .groupBy('incident_id')
    .orderBy('incident_id')
    .execute();
  const pairs = await db
    .selectFrom('segments')
    .select(['incident_id', 'camera_id'])
    .distinct()
    .where('incident_id', 'is not', null)
    .$if(cameraIds !== undefined, (q) => q.where('camera_id', 'in', cameraIds ?? []))
    .orderBy('incident_id')
    .orderBy('camera_id')
    .execute();
  const cameras = new Map<string, string[]>();
  for (const p of pairs) {
    if (p.incident_id === null) continue;
    const list = cameras.get(p.incident_id) ?? [];
    list.push(p.camera_id);
    cameras.set(p.incident_id, list);
  }
  return totals.flatMap((t) =>
    t.incident_id === null
      ? []
      : [{
          id: t.incident_id,
          segments: Number(t.n),
          bytes: Number(t.bytes),
          firstMs: Number(t.first_ms),
          lastMs: Number(t.last_ms),
          cameraIds: cameras.get(t.incident_id) ?? [],
        }],
  );
}

/** Whether any segment (of `cameraIds`, when given) carries the tag. */
export async function incidentExists(db: Db, incidentId: string, cameraIds?: readonly string[]): Promise<boolean> {
  if (cameraIds?.length === 0) return false;
  const r = await db
    .selectFrom('segments')
    .select('id')
    .where('incident_id', '=', incidentId)
    .$if(cameraIds !== undefined, (q) => q.where('camera_id', 'in', cameraIds ?? []))
    .limit(1)
    .executeTakeFirst();
  return r !== undefined;
}

/** Segments tagged with an incident, across cameras, oldest first, keyset-paginated by (start_ms, id). */
export async function listIncidentSegments(
  db: Db,
  incidentId: string,
  limit: number,
  after?: { startMs: number; id: number },
  cameraIds?: readonly string[],
): Promise<Segment[]> {
  if (cameraIds?.length === 0) return [];
  let q = db.selectFrom('segments').selectAll().where('incident_id', '=', incidentId);
  if (cameraIds !== undefined) q = q.where('camera_id', 'in', cameraIds);
  if (after) {
    const a = after;
    q = q.where((eb) => eb.or([eb('start_ms', '>', a.startMs), eb.and([eb('start_ms', '=', a.startMs), eb('id', '>', a.id)])]));
  }
  const rows = await q.orderBy('start_ms').orderBy('id').limit(limit).execute();
  return rows.map(toSegment);
}
