import { statfs } from 'node:fs/promises';

export interface DiskSpace {
  freeBytes: number;
  totalBytes: number;
}

export type DiskProbe = (path: string) => Promise<DiskSpace>;

/** Free space as an unprivileged writer sees it (ffmpeg does not run with the root reserve). */
export const probeDisk: DiskProbe = async (path) => {
  const s = await statfs(path);
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
};
