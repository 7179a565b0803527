import type { Db } from '../db/connection.js';
import { getCamera } from '../db/camera.repo.js';
import { getMotionInterval, getMotionThumbnail, listMotion, type MotionInterval } from '../db/motion.repo.js';
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

  async forCamera(cameraId: string, range: { fromMs: number; toMs: number }, zone: string | undefined): Promise<MotionInterval[]> {
    if (!(await getCamera(this.db, cameraId))) throw notFound(`camera "${cameraId}" not found`, 'id');
    return listMotion(this.db, { cameraId, ...range, zone, limit: CAMERA_MOTION_MAX, order: 'asc' });
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
