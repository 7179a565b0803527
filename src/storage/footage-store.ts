import { mkdir, open, readdir, realpath, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Db } from '../db/connection.js';
import { dropTombstones, listTombstones } from '../db/retention.repo.js';
import { VigilError } from '../shared/errors.js';
import { scanFmp4, type Fmp4Scan } from '../media/fmp4/scan.js';
import { fsyncPath } from './fsync.js';
import { hashFile, scanAndHash, type SegmentDigest } from './segment-digest.js';
import { refillTempName, REFILL_TEMP_PATTERN } from './segment-names.js';

/** The folder under the data dir that holds every camera's footage. */
const RECORDINGS = 'recordings';
/** Files recorded under a lease that was lost before their rows were written (cluster). */
const FENCED = 'fenced';

/**
 * The footage store: the one module that knows the recordings layout (`<data>/recordings/<camera>/
 * <file>`, paths in the catalog relative to the data dir with forward slashes) and performs every file
 * operation on footage: camera folders, relative ↔ absolute paths (refusing anything that resolves
 * outside the folder), renames into place, making files durable before their rows are written, and the
 * file side of crash-ordered deletion (invariant 5). Segment names are in segment-names.ts.
 */
export class FootageStore {
  /** Absolute path of the recordings folder. */
  readonly root: string;
  private rootReal: Promise<string> | undefined;

  /** `nodeId`: this node's id in a cluster (its tombstones are the only ones it finishes). */
  constructor(readonly dataDir: string, readonly nodeId?: string) {
    this.root = join(dataDir, RECORDINGS);
  }

  /** Creates the recordings folder (start-up). */
  async ensureRoot(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  /** Absolute folder of one camera's files. */
  cameraDir(cameraId: string): string {
    return join(this.root, cameraId);
  }

  async ensureCameraDir(cameraId: string): Promise<string> {
    const dir = this.cameraDir(cameraId);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** Every camera folder present (a deleted camera's folder stays until retention empties it). */
  async cameraIds(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }

  /** The names of the files in a camera's folder, sorted (none when it does not exist). */
  async fileNames(cameraId: string): Promise<string[]> {
    try {
      return (await readdir(this.cameraDir(cameraId))).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** The prefix every catalog path of this camera starts with: `recordings/<camera>/`. */
  cameraPrefix(cameraId: string): string {
    return `${RECORDINGS}/${cameraId}/`;
  }

  /** The catalog path of a file in a camera's folder. */
  catalogPath(cameraId: string, fileName: string): string {
    return this.cameraPrefix(cameraId) + fileName;
  }

  /** A path as the catalog stores it: relative to the data dir, with forward slashes. */
  relPath(absPath: string): string {
    return relative(this.dataDir, absPath).split(sep).join('/');
  }

  /** The absolute path of a catalog path Vigil wrote itself (no resolution: see `resolve` for reads). */
  absPath(relPath: string): string {
    return join(this.dataDir, relPath);
  }

  /**
   * The real absolute path of a catalog path, for reading it, only if it lies inside the recordings
   * folder once every `..` and symlink is resolved; undefined when the file does not exist (deleted
   * between selection and lock). A path that resolves elsewhere is refused (the catalog never holds
   * one; reading it would leak another file).
   */
  async resolve(relPath: string): Promise<string | undefined> {
    const root = await (this.rootReal ??= realpath(this.root));
    const lexical = resolve(this.dataDir, relPath);
    if (!inside(root, lexical) && !inside(resolve(this.root), lexical)) throw outside(relPath);
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

  /** Renames a file within the recordings folder (a closed file to its indexed name). */
  async rename(fromAbs: string, toAbs: string): Promise<void> {
    this.assertInside(fromAbs);
    this.assertInside(toAbs);
    await rename(fromAbs, toAbs);
  }

  /** Flushes a file and its folder's entry to disk: a row is written only after its file is durable. */
  async makeDurable(absPath: string): Promise<void> {
    this.assertInside(absPath);
    await fsyncPath(absPath);
    await fsyncPath(dirname(absPath));
  }

  /**
   * Reads a closed segment file once, front to back: its fMP4 structure and the SHA-256 of its
   * bytes (invariant 10). Throws Fmp4Error when it is not a fragmented MP4.
   */
  async readClosed(absPath: string): Promise<SegmentDigest> {
    this.assertInside(absPath);
    return scanAndHash(absPath);
  }

  /** The fMP4 structure of a stored file, from its boxes only (no hash): `vigil check`'s placement check. */
  async scan(absPath: string): Promise<Fmp4Scan> {
    this.assertInside(absPath);
    return scanFmp4(absPath);
  }

  /**
   * Opens a segment file for reading while the recorder may still be writing it (the live view). The
   * caller closes the handle; reads through it go on if retention unlinks the file meanwhile.
   */
  async openGrowing(absPath: string): Promise<FileHandle> {
    this.assertInside(absPath);
    return open(absPath, 'r');
  }

  /**
   * `openGrowing` of the first of `absPaths` that exists: a recorder's file under ffmpeg's name, then
   * under its final name once the indexer renamed it. Undefined when none does.
   */
  async openGrowingFirst(absPaths: readonly string[]): Promise<{ fh: FileHandle; absPath: string } | undefined> {
    for (const absPath of absPaths) {
      try {
        return { fh: await this.openGrowing(absPath), absPath };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return undefined;
  }

  /** SHA-256 and length of a stored file, as it is now (check --deep, exports). */
  async digest(absPath: string): Promise<{ sha256: string; sizeBytes: number }> {
    this.assertInside(absPath);
    return hashFile(absPath);
  }

  /**
   * A local path with a segment row's file, for reading it: `resolve` for this node's footage; in a
   * cluster, another node's footage is read where the recordings are shared (the same file is here),
   * else fetched from its node (PeerFiles; `unavailable` when that node cannot send it).
   */
  async resolveSegment(s: { id: number; path: string; nodeId: string | null; sha256: string | null; sizeBytes: number }): Promise<string | undefined> {
    if (s.nodeId === null || s.nodeId === this.nodeId || !this.peers) return this.resolve(s.path);
    const here = await this.resolve(s.path);
    if (here !== undefined && (await stat(here).catch(() => undefined))?.size === s.sizeBytes) return here;
    return this.peers.fetch({ ...s, nodeId: s.nodeId });
  }

  /** Where other nodes' footage comes from (set by a cluster node at start-up). */
  peers: { fetch(s: { id: number; nodeId: string; path: string; sha256: string | null; sizeBytes: number }): Promise<string> } | undefined;

  /** Removes one file that holds nothing worth a row (already gone is fine). */
  async discard(absPath: string): Promise<void> {
    this.assertInside(absPath);
    await rm(absPath, { force: true });
  }

  /**
   * Moves a recorder's file its node may no longer index (the camera's lease went to another node while
   * it was written: invariant 14) out of the recordings folder, to `<data>/fenced/<camera>/`: never
   * indexed, never reconciled, never deleted by Vigil (the operator decides). Returns where it is now.
   */
  async setAside(cameraId: string, absPath: string): Promise<string> {
    this.assertInside(absPath);
    const dir = join(this.dataDir, FENCED, cameraId);
    await mkdir(dir, { recursive: true });
    const dest = join(dir, basename(absPath));
    await rename(absPath, dest);
    return dest;
  }

  /** Where gap `gapId`'s refill is written before it is complete. */
  refillTempPath(cameraId: string, gapId: number): string {
    return join(this.cameraDir(cameraId), refillTempName(gapId));
  }

  /** Removes the temp files of refills a crash interrupted (never indexed); returns how many. */
  async removeRefillTemps(): Promise<number> {
    let removed = 0;
    for (const cameraId of await this.cameraIds()) {
      for (const name of await this.fileNames(cameraId)) {
        if (!REFILL_TEMP_PATTERN.test(name)) continue;
        await rm(join(this.cameraDir(cameraId), name), { force: true });
        removed++;
      }
    }
    return removed;
  }

  /**
   * Steps 2 and 3 of a crash-ordered delete (step 1, rows → tombstones in one transaction, is the
   * caller's): unlink the files (already gone is fine: a previous attempt got there), fsync their
   * folders, then drop the tombstones. A crash between the steps leaves tombstones that
   * `finishDeletions` completes at start-up, and reconciliation never indexes a tombstoned file.
   */
  async deleteTombstoned(db: Db, relPaths: readonly string[]): Promise<void> {
    if (relPaths.length === 0) return;
    const dirs = new Set<string>();
    const CONCURRENCY = 16;
    for (let i = 0; i < relPaths.length; i += CONCURRENCY) {
      await Promise.all(
        relPaths.slice(i, i + CONCURRENCY).map(async (p) => {
          const abs = this.absPath(p);
          this.assertInside(abs);
          await rm(abs, { force: true });
          dirs.add(dirname(abs));
        }),
      );
    }
    for (const d of dirs) await fsyncPath(d).catch(() => undefined);
    await dropTombstones(db, relPaths);
  }

  /** Finishes deletions a crash interrupted: unlink what the tombstones name, then drop them. */
  async finishDeletions(db: Db, batchSize: number): Promise<number> {
    let done = 0;
    for (;;) {
      const batch = await listTombstones(db, batchSize, this.nodeId);
      if (batch.length === 0) return done;
      await this.deleteTombstoned(db, batch.map((t) => t.path));
      done += batch.length;
    }
  }

  private assertInside(absPath: string): void {
    if (!inside(resolve(this.root), resolve(absPath))) throw outside(absPath);
  }
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

function outside(path: string): VigilError {
  return new VigilError('internal', `footage path resolves outside the recordings folder: ${JSON.stringify(path)}`);
}
