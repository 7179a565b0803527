import type { Logger } from 'pino';
import type { Db } from '../db/connection.js';
import { addReadLocks, releaseReadLocks } from '../db/read-lock.repo.js';

export interface ReadLockDeps {
  db: Db;
  log: Logger;
}

/**
 * Runs `fn` (any read of footage: clip, snapshot, playback) with the segments read-locked, so the
 * retention sweeper cannot delete them between selection and the moment ffmpeg opens the files.
 * The lock is taken in one statement and always released in `finally`: on success, on a throw, on a
 * timeout, and when the client disconnects (the request's abort signal ends `fn`). Locking is
 * best-effort, as the contract says: a failure is logged and the read proceeds.
 */
export async function withSegmentsReadLocked<T>(
  deps: ReadLockDeps,
  segmentIds: readonly number[],
  signal: AbortSignal | undefined,
  fn: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  let locked = false;
  try {
    await addReadLocks(deps.db, segmentIds);
    locked = true;
  } catch (err) {
    deps.log.error({ err, segments: segmentIds.length }, 'read-lock failed; reading without it');
  }
  try {
    signal?.throwIfAborted();
    return await fn(signal);
  } finally {
    if (locked) {
      await releaseReadLocks(deps.db, segmentIds).catch((err: unknown) =>
        deps.log.error({ err, segments: segmentIds.length }, 'read-lock release failed; start-up clears it'),
      );
    }
  }
}
