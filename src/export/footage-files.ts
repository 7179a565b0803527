import { realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { VigilError } from '../shared/errors.js';

/**
 * Turns a segment row's path (relative to the data dir) into the real absolute path of its file,
 * only if it lies inside `<data>/recordings` once every `..` and symlink is resolved. A path that
 * resolves elsewhere is refused (the catalog never holds one; reading it would leak another file).
 */
export class FootageFiles {
  private recordingsReal: Promise<string> | undefined;

  constructor(private readonly dataDir: string) {}

  /** The file's real path, or undefined when it does not exist (deleted between selection and lock). */
  async resolve(relPath: string): Promise<string | undefined> {
    const root = await (this.recordingsReal ??= realpath(join(this.dataDir, 'recordings')));
    const lexical = resolve(this.dataDir, relPath);
    if (!inside(root, lexical) && !inside(resolve(this.dataDir, 'recordings'), lexical)) throw outside(relPath);
    let real: string;
    try {
      real = await realpath(lexical);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (!inside(root, real)) throw outside(relPath);
    return real;
  }
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

function outside(relPath: string): VigilError {
  return new VigilError('internal', `segment path resolves outside the recordings folder: ${JSON.stringify(relPath)}`);
}
