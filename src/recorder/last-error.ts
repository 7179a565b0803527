import { LAST_ERROR_MAX_CHARS } from '../db/camera-status.repo.js';

/**
 * `last_error` for a recorder exit: `reason` as the first line, then as much of the end of `detail`
 * (ffmpeg's stderr) as fits. A long stderr must not push out the line that says what happened.
 */
export function reasonAndTail(reason: string, detail: string): string {
  const r = reason.trim().slice(0, LAST_ERROR_MAX_CHARS);
  const d = detail.trim();
  const room = LAST_ERROR_MAX_CHARS - r.length - 1;
  if (!d || room < 2) return r;
  return `${r}\n${d.length <= room ? d : `…${d.slice(-(room - 1))}`}`;
}
