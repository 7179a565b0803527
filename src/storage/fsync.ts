import { open } from 'node:fs/promises';

/** Flushes a file, or a directory's entries, to disk: a row is written only after its file is durable. */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
