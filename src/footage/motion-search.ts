import type { Db } from '../db/connection.js';
import { cameraExists } from '../db/camera.repo.js';
import { getMotionInterval, getMotionThumbnail, listMotion, motionDensity, type MotionBucket, type MotionInterval } from '../db/motion.repo.js';
import { decodeCursor, encodeCursor } from '../shared/cursor.js';
import { notFound } from '../shared/errors.js';

/** Most intervals one camera's range answer holds (a day of a busy camera is far fewer). */
export const CAMERA_MOTION_MAX = 10_000;

export interface MotionSearch {
  cameraId?: string | undefined;
  /** The caller's cameras; undefined = every camera. */
  cameraIds?: readonly string[] | undefined;
  fromMs: number;
  toMs: number;
  zone?: string | undefined;
  minScore?: number | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** Read side of motion: a camera's intervals over a range, the search across cameras, thumbnails. */
export class MotionQueries {
  constructor(private readonly db: Db) {}

  /** Oldest first, `limit` at a time (keyset on start and id: `cursor` continues). */
  async forCamera(
    cameraId: string,
    range: { fromMs: number; toMs: number },
    zone: string | undefined,
    page: { limit?: number | undefined; cursor?: string | undefined } = {},
  ): Promise<{ intervals: MotionInterval[]; nextCursor: string | null }> {
    if (!(await cameraExists(this.db, cameraId))) throw notFound(`camera "${cameraId}" not found`, 'id');
    const limit = page.limit ?? CAMERA_MOTION_MAX;
    const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
    const intervals = await listMotion(this.db, { cameraId, ...range, zone, limit: limit + 1, order: 'asc', after });
    const more = intervals.length > limit;
    if (more) intervals.pop();
    const last = intervals.at(-1);
    return { intervals, nextCursor: more && last ? encodeCursor(last.startMs, last.id) : null };
  }

  /** A camera's motion counted per bucket of `bucketMs` (see motionDensity). */
  async density(cameraId: string, range: { fromMs: number; toMs: number }, bucketMs: number, zone: string | undefined): Promise<MotionBucket[]> {
    if (!(await cameraExists(this.db, cameraId))) throw notFound(`camera "${cameraId}" not found`, 'id');
    return motionDensity(this.db, { cameraId, ...range, bucketMs, zone });
  }

  /** Newest first, a page at a time (keyset on start and id). */
  async search(q: MotionSearch): Promise<{ intervals: MotionInterval[]; nextCursor: string | null }> {
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const intervals = await listMotion(this.db, {
      cameraId: q.cameraId,
      cameraIds: q.cameraIds,
      fromMs: q.fromMs,
      toMs: q.toMs,
      zone: q.zone,
      minScore: q.minScore,
      limit: q.limit + 1,
      order: 'desc',
      after,
    });
    const more = intervals.length > q.limit;
    if (more) intervals.pop();
    const last = intervals.at(-1);
    return { intervals, nextCursor: more && last ? encodeCursor(last.startMs, last.id) : null };
  }

  /** The peak frame's JPEG; `visible` says whether the caller may see the interval's camera (else: not found, as if absent). */
  async thumbnail(id: number, visible: (cameraId: string) => boolean): Promise<Uint8Array> {
    const interval = await getMotionInterval(this.db, id);
    const jpeg = interval && visible(interval.cameraId) ? await getMotionThumbnail(this.db, id) : undefined;
    if (!jpeg) throw notFound(`motion interval ${id} has no thumbnail`, 'id');
    return jpeg;
  }
}
