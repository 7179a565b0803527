/** What ffmpeg prints (strerror of ENOSPC / EDQUOT) when the disk it records to is full. */
const NO_SPACE = /No space left on device|Disk quota exceeded/i;

export function isNoSpace(text: string): boolean {
  return NO_SPACE.test(text);
}

/** First line of `last_error` after a recorder gave up on a full disk. */
export const NO_SPACE_REASON = 'recordings disk is full (No space left on device); recording resumes when space is freed';
