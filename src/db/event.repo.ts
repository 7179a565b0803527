import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import { engineOf } from './engine.js';
import type { EventsTable, Severity } from './schema.js';
import { redactDeep } from '../shared/redact.js';

export interface NewEvent {
  tsMs: number;
  type: string;
  severity: Severity;
  cameraId: string | null;
  payload: Record<string, unknown>;
  /** The request that caused it; null when a background service acted on its own. */
  requestId: string | null;
}

export interface EventRow extends NewEvent {
  id: number;
}

/** An `events` row as the catalog's callers see it (the payload parsed). */
export function toEvent(r: Selectable<EventsTable>): EventRow {
  return {
    id: r.id,
    tsMs: r.ts_ms,
    type: r.type,
    severity: r.severity,
    cameraId: r.camera_id,
    payload: JSON.parse(r.payload) as Record<string, unknown>,
    requestId: r.request_id,
  };
}

/**
 * Stores one event. Its id orders it: webhooks read the log past a cursor (`advanceCursor`), so an id
 * must never become visible after a higher one. SQLite commits one writer at a time; on PostgreSQL the
 * insert runs as a transaction of its own, under the catalog's transaction lock (src/db/postgres.ts),
 * so ids commit in order there too.
 */
export async function logEvent(db: Db, e: NewEvent): Promise<number> {
  if (!db.isTransaction && engineOf(db) === 'postgres') return db.transaction().execute((trx) => insertEvent(trx, e));
  return insertEvent(db, e);
}

async function insertEvent(db: Db, e: NewEvent): Promise<number> {
  const r = await db
    .insertInto('events')
    .values({
      ts_ms: e.tsMs,
      type: e.type,
      severity: e.severity,
      camera_id: e.cameraId,
      // Defence in depth: the event log redacts first; the catalog does again.
      payload: JSON.stringify(redactDeep(e.payload)),
      request_id: e.requestId,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return r.id;
}

export interface EventQuery {
  cameraId?: string | undefined;
  type?: string | undefined;
  sinceMs?: number | undefined;
  /** Only events of these cameras (a camera-scoped caller); undefined = every event. */
  cameraIds?: readonly string[] | undefined;
  limit: number;
}

/** Newest first. */
export async function listEvents(db: Db, q: EventQuery): Promise<EventRow[]> {
  let query = db.selectFrom('events').selectAll();
  if (q.cameraId !== undefined) query = query.where('camera_id', '=', q.cameraId);
  if (q.type !== undefined) query = query.where('type', '=', q.type);
  if (q.sinceMs !== undefined) query = query.where('ts_ms', '>=', q.sinceMs);
  if (q.cameraIds !== undefined) {
    if (q.cameraIds.length === 0) return [];
    query = query.where('camera_id', 'in', q.cameraIds);
  }
  return (await query.orderBy('id', 'desc').limit(q.limit).execute()).map(toEvent);
}
