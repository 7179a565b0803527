import { sql, type Selectable } from 'kysely';
import { rowMaker, type Db } from './connection.js';
import { engineOf } from './engine.js';
import { prepared } from './prepared.js';
import { recordSegmentIndexed } from './camera-status.repo.js';
import { appendSegmentLink } from './chain.repo.js';
import type { Signer } from '../shared/evidence-hash.js';
import { logEvent, type EventRow, type NewEvent } from './event.repo.js';
import { reviseGapsAround, upsertRecordingGap, type Gap } from './gap.repo.js';
import { isTransientWriteError } from './write-errors.js';
import { holdsLease, type Fence } from './cluster.repo.js';
import type { SegmentSource, SegmentsTable } from './schema.js';

/** Longest segment the table accepts (CHECK on duration_ms); lets range queries bound start_ms. */
export const MAX_SEGMENT_MS = 7_200_000;

export interface Segment {
  id: number;
  cameraId: string;
  path: string;
  startMs: number;
  endMs: number;
  durationMs: number;
  sizeBytes: number;
  codec: string | null;
  width: number | null;
  height: number | null;
  source: SegmentSource;
  locked: number;
  evidenceLocked: boolean;
  incidentId: string | null;
  indexedAtMs: number;
  /** Hex SHA-256 of the file's bytes; null for rows indexed before Vigil hashed segments. */
  sha256: string | null;
  /** This segment's link in its camera's hash chain (invariant 10); null when unhashed. */
  chainSeq: number | null;
  chainHash: string | null;
  /** Media time (ms) in the file at `startMs`: footage before it in the file is not this row's. */
  mediaOffsetMs: number;
  /** The cluster node whose data dir holds the file (null: a single Vigil). */
  nodeId: string | null;
  /** Fragments of the file that start with a keyframe (its random access points); null when unknown (indexed before 0015). */
  keyframeFragments: number | null;
}

export function toSegment(r: Selectable<SegmentsTable>): Segment {
  return {
    id: r.id,
    cameraId: r.camera_id,
    path: r.path,
    startMs: r.start_ms,
    endMs: r.end_ms,
    durationMs: r.duration_ms,
    sizeBytes: r.size_bytes,
    codec: r.codec,
    width: r.width,
    height: r.height,
    source: r.source,
    locked: r.locked,
    evidenceLocked: r.evidence_locked === 1,
    incidentId: r.incident_id,
    indexedAtMs: r.indexed_at_ms,
    sha256: r.sha256,
    chainSeq: r.chain_seq,
    chainHash: r.chain_hash,
    mediaOffsetMs: r.media_offset_ms,
    nodeId: r.node_id,
    keyframeFragments: r.keyframe_fragments,
  };
}

export interface NewSegment {
  cameraId: string;
  path: string;
  startMs: number;
  endMs: number;
  sizeBytes: number;
  codec: string | null;
  width: number | null;
  height: number | null;
  source: SegmentSource;
  fps: number | null;
  /** Hex SHA-256 of the file, computed as the indexer read it: the row gets a link in the camera's chain. */
  sha256?: string | undefined;
  /** Media time (ms) in the file at `startMs` (default 0: the file's footage begins at `startMs`). */
  mediaOffsetMs?: number | undefined;
  /** The cluster node whose data dir holds the file (undefined: a single Vigil). */
  nodeId?: string | undefined;
  /** Fragments of the file that start with a keyframe, from the indexer's scan (undefined: not counted). */
  keyframeFragments?: number | undefined;
  /** The lease the file was recorded under: the row is written only while it is still the camera's (invariant 14). */
  fence?: Fence | undefined;
}

/** A segment row refused: the lease its recorder ran under is no longer the camera's (invariant 14). */
export class LeaseLostError extends Error {
  constructor(readonly cameraId: string, readonly fence: Fence) {
    super(`camera ${cameraId}: the lease (node ${fence.nodeId}, token ${fence.token}) is no longer held; the row is not written`);
    this.name = 'LeaseLostError';
  }
}

export interface IndexResult {
  /** Undefined when the file added nothing: it lay entirely within footage already indexed. */
  segment: Segment | undefined;
  /** Milliseconds cut from the start so it would not overlap the previous segment. */
  clampedMs: number;
  /** The hole before this segment, when one > 3 s was recorded for the first time. */
  gap: Gap | undefined;
  /** The `recording_gap` event stored with that gap, in the same transaction (exactly once). */
  gapEvent?: EventRow;
  /** Why recording the gap failed (best-effort: the segment is indexed all the same). */
  gapError?: unknown;
}

/**
 * Indexes one closed segment file, in one transaction: clamp it between the camera's neighbouring
 * segments so it never overlaps them (invariant 4), insert the row, bump the camera's counters, and
 * record the hole before it when longer than 3 s (once per camera and gap start), with its event
 * (`gapEvent` builds it) in the same transaction, so the event exists exactly when the gap does. A
 * live segment that lands inside a gap recorded earlier (indexed out of order) splits that gap.
 * Recording the gap is best-effort, as the contract says: it runs under a savepoint, so its failure
 * never loses the row.
 */
export async function indexSegment(db: Db, s: NewSegment, nowMs: number, gapEvent?: (gap: Gap) => NewEvent, signer?: Signer): Promise<IndexResult> {
  return db.transaction().execute(async (trx) => {
    if (s.fence && !(await holdsLease(trx, s.cameraId, s.fence))) throw new LeaseLostError(s.cameraId, s.fence);
    const prev = await trx
      .selectFrom('segments')
      .select(['end_ms'])
      .where('camera_id', '=', s.cameraId)
      .where('start_ms', '<=', s.startMs)
      .orderBy('start_ms', 'desc')
      .limit(1)
      .executeTakeFirst();
    const next = await trx
      .selectFrom('segments')
      .select(['start_ms'])
      .where('camera_id', '=', s.cameraId)
      .where('start_ms', '>', s.startMs)
      .orderBy('start_ms')
      .limit(1)
      .executeTakeFirst();
    const prevEnd = prev?.end_ms;
    const startMs = prevEnd !== undefined && prevEnd > s.startMs ? prevEnd : s.startMs;
    const endMs = next !== undefined && next.start_ms < s.endMs ? next.start_ms : s.endMs;
    if (startMs >= endMs) return { segment: undefined, clampedMs: s.endMs - s.startMs, gap: undefined };
    const durationMs = endMs - startMs;
    const row = await trx
      .insertInto('segments')
      .values({
        camera_id: s.cameraId,
        path: s.path,
        start_ms: startMs,
        end_ms: endMs,
        duration_ms: durationMs,
        size_bytes: s.sizeBytes,
        codec: s.codec,
        width: s.width,
        height: s.height,
        source: s.source,
        indexed_at_ms: nowMs,
        sha256: s.sha256 ?? null,
        // A start clamped forward past footage the file holds moves into the file, never shifts it
        // (time truth): the file's media time at the row's start grows by what was cut.
        media_offset_ms: (s.mediaOffsetMs ?? 0) + (startMs - s.startMs),
        node_id: s.nodeId ?? null,
        keyframe_fragments: s.keyframeFragments ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    // The chain link is written with the row, never after it (invariant 10).
    const link =
      s.sha256 !== undefined
        ? await appendSegmentLink(trx, { id: row.id, cameraId: s.cameraId, startMs, endMs, sizeBytes: s.sizeBytes, sha256: s.sha256 }, signer, nowMs)
        : undefined;
    if (link) Object.assign(row, { chain_seq: link.seq, chain_hash: link.chainHash });
    const bitrate = durationMs > 0 ? Math.round((s.sizeBytes * 8 * 1000) / durationMs) : null;
    // An edge refill lands in the past: it says nothing of the bitrate and fps the camera sends now.
    await recordSegmentIndexed(trx, s.cameraId, endMs, s.source === 'edge' ? undefined : { bitrateBps: bitrate, fps: s.fps }, nowMs);
    let gap: Gap | undefined;
    let event: EventRow | undefined;
    let gapError: unknown;
    const newGap = prevEnd !== undefined && startMs - prevEnd > 3000;
    // Edge segments fill a gap the refill owns (its state, attempts and result); only other footage revises gaps.
    if (newGap || s.source !== 'edge') {
      await sql`SAVEPOINT record_gap`.execute(trx);
      try {
        if (s.source !== 'edge') await reviseGapsAround(trx, s.cameraId, startMs, endMs);
        if (newGap) gap = await upsertRecordingGap(trx, s.cameraId, prevEnd, startMs, nowMs);
        if (gap && gapEvent) {
          const e = gapEvent(gap);
          event = { ...e, id: await logEvent(trx, e) };
        }
        await sql`RELEASE record_gap`.execute(trx);
      } catch (err) {
        // The disk full (or the like): SQLite may have ended the whole transaction, row included.
        // The row must then fail with it, to be retried, never be half-written.
        if (isTransientWriteError(err)) throw err;
        gap = undefined;
        event = undefined;
        gapError = err;
        await sql`ROLLBACK TO record_gap`.execute(trx);
        await sql`RELEASE record_gap`.execute(trx);
      }
    }
    return { segment: toSegment(row), clampedMs: startMs - s.startMs + (s.endMs - endMs), gap, ...(event ? { gapEvent: event } : {}), ...(gapError ? { gapError } : {}) };
  });
}

export interface SegmentPageQuery {
  cameraId: string;
  fromMs: number;
  toMs: number;
  limit: number;
  /** The last row of the previous page; without `endMs` (a cursor of the older form) keyed by (start_ms, id). */
  after?: { startMs: number; endMs?: number | undefined; id: number } | undefined;
}

/** A page query's values (slots when it is prepared), apart from what shapes its SQL (`PageShape`). */
interface PageValues {
  cameraId: string;
  /** Rows starting after this may overlap the range (a segment lasts at most MAX_SEGMENT_MS). */
  startsAfterMs: number;
  fromMs: number;
  toMs: number;
  afterStartMs: number;
  afterEndMs: number;
  afterId: number;
}

/** What shapes a page query's SQL: its LIMIT (written into the SQL on SQLite) and its cursor's form. */
type PageShape = `${number}:${'first' | 'start-id' | 'start-end-id'}`;

function pageShape(q: SegmentPageQuery): PageShape {
  return `${q.limit}:${q.after === undefined ? 'first' : q.after.endMs === undefined ? 'start-id' : 'start-end-id'}`;
}

function pageValues(q: SegmentPageQuery): PageValues {
  const a = q.after;
  // Values the shape leaves out are not in the SQL; any number stands for them.
  return { cameraId: q.cameraId, startsAfterMs: q.fromMs - MAX_SEGMENT_MS, fromMs: q.fromMs, toMs: q.toMs, afterStartMs: a?.startMs ?? 0, afterEndMs: a?.endMs ?? 0, afterId: a?.id ?? 0 };
}

/**
 * Segments overlapping [from, to), oldest first, keyset-paginated by (start_ms, end_ms, id): the order
 * of the index (camera_id, start_ms, end_ms), whose entries end with the rowid (the id), so SQLite reads
 * the page in order instead of sorting each run of equal start_ms by id.
 */
function pageQuery(db: Db, v: PageValues, shape: PageShape) {
  const [limit, cursor] = shape.split(':') as [string, string];
  let query = db
    .selectFrom('segments')
    .selectAll()
    .where('camera_id', '=', v.cameraId)
    .where('start_ms', '>', v.startsAfterMs)
    .where('start_ms', '<', v.toMs)
    .where('end_ms', '>', v.fromMs);
  if (cursor === 'start-id') {
    query = query.where((eb) => eb.or([eb('start_ms', '>', v.afterStartMs), eb.and([eb('start_ms', '=', v.afterStartMs), eb('id', '>', v.afterId)])]));
  } else if (cursor === 'start-end-id') {
    query = query.where((eb) =>
      eb.or([
        eb('start_ms', '>', v.afterStartMs),
        eb.and([eb('start_ms', '=', v.afterStartMs), eb.or([eb('end_ms', '>', v.afterEndMs), eb.and([eb('end_ms', '=', v.afterEndMs), eb('id', '>', v.afterId)])])]),
      ]),
    );
  }
  return query.orderBy('start_ms').orderBy('end_ms').orderBy('id').limit(Number(limit));
}

/** The query of one page, as `listSegments` runs it (its plan is tested). */
export function segmentPageQuery(db: Db, q: SegmentPageQuery) {
  return pageQuery(db, pageValues(q), pageShape(q));
}

const pageRows = prepared(pageQuery);
// SQLite: each row as one JSON array that SQLite writes. better-sqlite3 on Node 20 hands a row over
// through V8's API one cell at a time, which costs more than reading it; one string a row, parsed
// here, costs less (a page of 101 rows 273–275 -> 238–254 µs in the bench). Exact: the table is
// STRICT, its columns INTEGER (as numbers either way) or TEXT.
const pageJsonRows = prepared((db, v: PageValues, shape: PageShape) => pageQuery(db, v, shape).clearSelect().select(SEGMENT_JSON_ROW));

/** A page of segments (see `pageQuery`); its SQL is compiled once per catalog and page shape. */
export async function listSegments(db: Db, q: SegmentPageQuery): Promise<Segment[]> {
  if (engineOf(db) === 'postgres') return (await pageRows(db, pageValues(q), pageShape(q))).map(toSegment);
  const rows = await pageJsonRows(db, pageValues(q), pageShape(q));
  return rows.map((r) => toSegment(segmentRowOf(JSON.parse(r.row) as unknown[]) as unknown as Selectable<SegmentsTable>));
}

/** Every column of a segment row, in the order of `SEGMENT_JSON_ROW`'s array. */
const SEGMENT_COLUMNS = [
  'id', 'camera_id', 'path', 'start_ms', 'end_ms', 'duration_ms', 'size_bytes', 'codec', 'width', 'height', 'source',
  'locked', 'evidence_locked', 'incident_id', 'indexed_at_ms', 'sha256', 'chain_seq', 'chain_hash', 'media_offset_ms', 'node_id',
  'keyframe_fragments',
] as const satisfies ReadonlyArray<keyof SegmentsTable>;
const SEGMENT_JSON_ROW = sql<string>`json_array(${sql.join(SEGMENT_COLUMNS.map((c) => sql.ref(c)))})`.as('row');
const segmentRowOf = rowMaker(SEGMENT_COLUMNS);

/** Every segment overlapping [from, to), oldest first, read a page of 1000 at a time. */
export async function listAllSegments(db: Db, cameraId: string, fromMs: number, toMs: number): Promise<Segment[]> {
  const PAGE = 1000;
  const out: Segment[] = [];
  let after: SegmentPageQuery['after'];
  for (;;) {
    const page = await listSegments(db, { cameraId, fromMs, toMs, limit: PAGE, after });
    out.push(...page);
    const last = page.at(-1);
    if (page.length < PAGE || !last) return out;
    after = { startMs: last.startMs, endMs: last.endMs, id: last.id };
  }
}

/**
 * Start/end of every segment overlapping [from, to), for the timeline: read from the index
 * (camera_id, start_ms, end_ms) alone (migration 0013).
 */
export async function listSpans(db: Db, cameraId: string, fromMs: number, toMs: number): Promise<Array<[number, number]>> {
  const rows = await spansQuery(db, cameraId, fromMs, toMs).execute();
  return rows.map((r) => [r.start_ms, r.end_ms]);
}

/** The query of `listSpans` (its plan is tested). */
export function spansQuery(db: Db, cameraId: string, fromMs: number, toMs: number) {
  return db
    .selectFrom('segments')
    .select(['start_ms', 'end_ms'])
    .where('camera_id', '=', cameraId)
    .where('start_ms', '>', fromMs - MAX_SEGMENT_MS)
    .where('start_ms', '<', toMs)
    .where('end_ms', '>', fromMs)
    .orderBy('start_ms');
}

export async function lastSegment(db: Db, cameraId: string): Promise<Segment | undefined> {
  const r = await db
    .selectFrom('segments')
    .selectAll()
    .where('camera_id', '=', cameraId)
    .orderBy('start_ms', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r && toSegment(r);
}

/**
 * The row of recorder run file `name` (`<run>-<seq>`, as ffmpeg named it) of a camera, once indexed under
 * its final name `<time>-<run>-<seq>.mp4`; undefined when it has none (yet, or any more).
 */
export async function getSegmentByRunFile(db: Db, cameraId: string, name: string): Promise<Segment | undefined> {
  if (!/^[a-z0-9]+-\d{6}$/.test(name)) return undefined;
  const r = await db
    .selectFrom('segments')
    .selectAll()
    .where('camera_id', '=', cameraId)
    .where('path', 'like', `%-${name}.mp4`)
    .orderBy('start_ms', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r && toSegment(r);
}

export async function getSegmentByPath(db: Db, path: string): Promise<Segment | undefined> {
  const r = await db.selectFrom('segments').selectAll().where('path', '=', path).executeTakeFirst();
  return r && toSegment(r);
}

/**
 * Every indexed path under a prefix (e.g. `recordings/cam1/`), for start-up reconciliation and the
 * orphan look. The path alone, read from its unique index without touching the table: a month of
 * 10-s segments (260 k rows) in ~0.15 s instead of ~0.5 s with another column (docs/proof.md).
 */
export async function listPathsUnder(db: Db, prefix: string): Promise<Set<string>> {
  const rows = await pathsUnderQuery(db, prefix).execute();
  const out = new Set<string>();
  for (const r of rows) out.add(r.path);
  return out;
}

/** The query of `listPathsUnder` (its plan is tested). */
export function pathsUnderQuery(db: Db, prefix: string) {
  return db.selectFrom('segments').select('path').where('path', '>=', prefix).where('path', '<', `${prefix}\uffff`);
}

/** The node whose data dir holds each of these paths' files (NULL: a single Vigil), for the few that need it. */
export async function nodeIdsOfPaths(db: Db, paths: string[]): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  for (let i = 0; i < paths.length; i += 500) {
    const rows = await db.selectFrom('segments').select(['path', 'node_id']).where('path', 'in', paths.slice(i, i + 500)).execute();
    for (const r of rows) out.set(r.path, r.node_id);
  }
  return out;
}

export async function listAllPaths(db: Db): Promise<Array<{ id: number; cameraId: string; path: string }>> {
  const rows = await db.selectFrom('segments').select(['id', 'camera_id', 'path']).execute();
  return rows.map((r) => ({ id: r.id, cameraId: r.camera_id, path: r.path }));
}

export async function countSegments(db: Db, cameraId?: string): Promise<number> {
  let q = db.selectFrom('segments').select(sql<number>`count(*)`.as('n'));
  if (cameraId !== undefined) q = q.where('camera_id', '=', cameraId);
  return Number((await q.executeTakeFirstOrThrow()).n);
}
