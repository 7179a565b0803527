import { sql } from 'kysely';
import type { Db } from './connection.js';

/** A motion interval never lasts longer: the tracker closes it and opens the next (bounds range scans). */
export const MOTION_INTERVAL_MAX_MS = 3600_000;

export interface NewMotionInterval {
  cameraId: string;
  startMs: number;
  endMs: number;
  peakScore: number;
  peakAtMs: number;
  zones: readonly string[];
  /** JPEG of the peak frame; null when it could not be made. */
  jpeg: Uint8Array | null;
}

export interface MotionInterval {
  id: number;
  cameraId: string;
  startMs: number;
  endMs: number;
  peakScore: number;
  peakAtMs: number;
  zones: string[];
  hasThumbnail: boolean;
}

/** Writes one ended interval with its zones and thumbnail (one transaction); returns its id. */
export async function insertMotionInterval(db: Db, m: NewMotionInterval, nowMs: number): Promise<number> {
  const zones = [...new Set(m.zones)].sort();
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('motion_intervals')
      .values({
        zones: zones.join(','),
        has_thumbnail: m.jpeg ? 1 : 0,
        camera_id: m.cameraId,
        start_ms: m.startMs,
        end_ms: m.endMs,
        peak_score: Math.min(100, Math.max(0, m.peakScore)),
        peak_at_ms: Math.min(m.endMs, Math.max(m.startMs, m.peakAtMs)),
        created_at_ms: nowMs,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    if (zones.length > 0) await trx.insertInto('motion_zones').values(zones.map((zone) => ({ interval_id: row.id, zone }))).execute();
    if (m.jpeg) await trx.insertInto('motion_thumbnails').values({ interval_id: row.id, jpeg: m.jpeg }).execute();
    return row.id;
  });
}

export interface MotionQuery {
  /** Intervals overlapping [fromMs, toMs). */
  fromMs: number;
  toMs: number;
  cameraId?: string | undefined;
  /** Only these cameras (the caller's scope); undefined = every camera. */
  cameraIds?: readonly string[] | undefined;
  zone?: string | undefined;
  minScore?: number | undefined;
  limit: number;
  order: 'asc' | 'desc';
  /** Keyset: continue after this (start_ms, id) in the chosen order. */
  after?: { startMs: number; id: number } | undefined;
}

/** Motion intervals overlapping a range, with their zones; served by the (camera_id, start_ms) and (start_ms) indexes. */
export async function listMotion(db: Db, q: MotionQuery): Promise<MotionInterval[]> {
  if (q.cameraIds !== undefined && q.cameraIds.length === 0) return [];
  let query = db
    .selectFrom('motion_intervals as m')
    .select(['m.id', 'm.camera_id', 'm.start_ms', 'm.end_ms', 'm.peak_score', 'm.peak_at_ms', 'm.zones', 'm.has_thumbnail'])
    // An interval is at most MOTION_INTERVAL_MAX_MS long: the start bound keeps the scan to the range.
    .where('m.start_ms', '>=', q.fromMs - MOTION_INTERVAL_MAX_MS)
    .where('m.start_ms', '<', q.toMs)
    .where('m.end_ms', '>=', q.fromMs);
  if (q.cameraId !== undefined) query = query.where('m.camera_id', '=', q.cameraId);
  if (q.cameraIds !== undefined) query = query.where('m.camera_id', 'in', [...q.cameraIds]);
  if (q.minScore !== undefined) query = query.where('m.peak_score', '>=', q.minScore);
  if (q.zone !== undefined) {
    const zone = q.zone;
    query = query.where((eb) => eb.exists(eb.selectFrom('motion_zones as z').select('z.interval_id').whereRef('z.interval_id', '=', 'm.id').where('z.zone', '=', zone)));
  }
  if (q.after) {
    const a = q.after;
    const cmp = q.order === 'asc' ? '>' : '<';
    query = query.where((eb) => eb.or([eb('m.start_ms', cmp, a.startMs), eb.and([eb('m.start_ms', '=', a.startMs), eb('m.id', cmp, a.id)])]));
  }
  const rows = await query.orderBy('m.start_ms', q.order).orderBy('m.id', q.order).limit(q.limit).execute();
  return rows.map((r) => ({
    id: r.id,
    cameraId: r.camera_id,
    startMs: r.start_ms,
    endMs: r.end_ms,
    peakScore: r.peak_score,
    peakAtMs: r.peak_at_ms,
    zones: r.zones === '' ? [] : r.zones.split(','),
    hasThumbnail: r.has_thumbnail === 1,
  }));
}

export interface MotionBucket {
  /** The bucket: [fromMs + i × bucketMs, + bucketMs). */
  bucketStartMs: number;
  /** The motion in it: the earliest start and latest end of its intervals (an interval lies in the bucket it starts in). */
  startMs: number;
  endMs: number;
  count: number;
  peakScore: number;
  zones: string[];
}

/**
 * One camera's motion over [fromMs, toMs) counted per bucket of `bucketMs` (each interval in the bucket
 * its start falls in; one that started before `fromMs` in the first): what a timeline draws at a wide
 * window, a few hundred rows at most instead of every interval. Grouped in SQL by bucket and zone set
 * (plain aggregates, no engine's string functions); the zone sets of a bucket are joined here.
 */
export async function motionDensity(db: Db, q: { cameraId: string; fromMs: number; toMs: number; bucketMs: number; zone?: string | undefined }): Promise<MotionBucket[]> {
  // The bucket index, truncated (parameters bind as REAL in SQLite; CAST keeps both engines integral).
  const bucket = sql<number>`cast(case when m.start_ms < ${q.fromMs} then 0 else (m.start_ms - ${q.fromMs}) / ${q.bucketMs} end as integer)`;
  let query = db
    .selectFrom('motion_intervals as m')
    .select([
      bucket.as('b'),
      'm.zones',
      (eb) => eb.fn.countAll<number>().as('n'),
      (eb) => eb.fn.min('m.start_ms').as('first_ms'),
      (eb) => eb.fn.max('m.end_ms').as('last_ms'),
      (eb) => eb.fn.max('m.peak_score').as('peak'),
    ])
    .where('m.camera_id', '=', q.cameraId)
    .where('m.start_ms', '>=', q.fromMs - MOTION_INTERVAL_MAX_MS)
    .where('m.start_ms', '<', q.toMs)
    .where('m.end_ms', '>=', q.fromMs);
  if (q.zone !== undefined) {
    const zone = q.zone;
    query = query.where((eb) => eb.exists(eb.selectFrom('motion_zones as z').select('z.interval_id').whereRef('z.interval_id', '=', 'm.id').where('z.zone', '=', zone)));
  }
  const rows = await query.groupBy([bucket, 'm.zones']).orderBy('b').execute();
  const out: MotionBucket[] = [];
  for (const r of rows) {
    const b = Number(r.b);
    let cur = out.at(-1);
    if (!cur || cur.bucketStartMs !== q.fromMs + b * q.bucketMs) {
      cur = { bucketStartMs: q.fromMs + b * q.bucketMs, startMs: Number(r.first_ms), endMs: Number(r.last_ms), count: 0, peakScore: 0, zones: [] };
      out.push(cur);
    }
    cur.startMs = Math.min(cur.startMs, Number(r.first_ms));
    cur.endMs = Math.max(cur.endMs, Number(r.last_ms));
    cur.count += Number(r.n);
    cur.peakScore = Math.max(cur.peakScore, Number(r.peak));
    for (const z of r.zones === '' ? [] : r.zones.split(',')) if (!cur.zones.includes(z)) cur.zones.push(z);
  }
  for (const b of out) b.zones.sort();
  return out;
}

/** One interval, for its thumbnail's access check. */
export async function getMotionInterval(db: Db, id: number): Promise<{ id: number; cameraId: string } | undefined> {
  const r = await db.selectFrom('motion_intervals').select(['id', 'camera_id']).where('id', '=', id).executeTakeFirst();
  return r && { id: r.id, cameraId: r.camera_id };
}

export async function getMotionThumbnail(db: Db, id: number): Promise<Uint8Array | undefined> {
  const r = await db.selectFrom('motion_thumbnails').select('jpeg').where('interval_id', '=', id).executeTakeFirst();
  return r?.jpeg;
}

/**
 * Deletes a camera's intervals that ended before `beforeMs` (their footage is gone; zones and
 * thumbnails go with them by cascade). Returns how many.
 */
export async function deleteMotionBefore(db: Db, cameraId: string, beforeMs: number): Promise<number> {
  const res = await db.deleteFrom('motion_intervals').where('camera_id', '=', cameraId).where('end_ms', '<', beforeMs).executeTakeFirst();
  return Number(res.numDeletedRows);
}

/** The start of a camera's oldest segment (undefined: none left). */
export async function oldestSegmentStart(db: Db, cameraId: string): Promise<number | undefined> {
  const r = await db
    .selectFrom('segments')
    .select(sql<number | null>`min(start_ms)`.as('start'))
    .where('camera_id', '=', cameraId)
    .executeTakeFirst();
  return r?.start ?? undefined;
}
