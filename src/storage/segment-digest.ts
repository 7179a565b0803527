import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { scanFmp4Source, type ByteSource, type Fmp4Scan } from '../media/fmp4/scan.js';

/** A closed segment file as the indexer reads it once: its structure and the SHA-256 of its bytes. */
export interface SegmentDigest {
  scan: Fmp4Scan;
  /** Hex SHA-256 of the file's first `sizeBytes` bytes (all of it, as it was when read). */
  sha256: string;
  sizeBytes: number;
}

/** Bytes read per call: large enough that hashing runs at the disk's (or page cache's) speed. */
const CHUNK = 1024 * 1024;

/** One chunk of the file in hand: `len` bytes from file offset `start`. */
interface Chunk {
  mem: Buffer;
  start: number;
  len: number;
}

/**
 * A ByteSource that reads its file front to back exactly once, in large chunks into two buffers it
 * reuses (fresh memory for every chunk cost more in page faults than the hash itself), hashing every
 * byte as it passes. It answers the fMP4 walk's requests, which only move forward (never before the
 * start of the previous request), with copies of the few bytes asked for (box headers, moof bodies);
 * mdat payloads are read and hashed but never copied.
 */
class HashingSource implements ByteSource {
  private readonly hash: Hash = createHash('sha256');
  private prev: Chunk = { mem: Buffer.allocUnsafe(0), start: 0, len: 0 };
  private cur: Chunk = { mem: Buffer.allocUnsafe(0), start: 0, len: 0 };

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  /** Bytes read and hashed so far. */
  private get pos(): number {
    return this.cur.start + this.cur.len;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.size);
    const out = Buffer.allocUnsafe(Math.max(0, end - offset));
    let filled = 0;
    while (offset + filled < end) {
      const at = offset + filled;
      if (at >= this.pos) {
        if (!(await this.advance())) break; // shrank under us: the digest covers what was there
        continue;
      }
      const c = at >= this.cur.start ? this.cur : at >= this.prev.start && at < this.prev.start + this.prev.len ? this.prev : undefined;
      if (!c) throw new Error(`hashing read went backwards (${at} < ${this.prev.start})`);
      const n = Math.min(end, c.start + c.len) - at;
      c.mem.copy(out, filled, at - c.start, at - c.start + n);
      filled += n;
    }
    return out.subarray(0, filled);
  }

  /** Reads and hashes the next chunk into the older buffer; false at the end of the file. */
  private async advance(): Promise<boolean> {
    const want = Math.min(CHUNK, this.size - this.pos);
    if (want <= 0) return false;
    const next = this.prev;
    if (next.mem.length < want) next.mem = Buffer.allocUnsafe(CHUNK);
    const { bytesRead } = await this.fh.read(next.mem, 0, want, this.pos);
    if (bytesRead === 0) return false;
    this.hash.update(next.mem.subarray(0, bytesRead));
    next.start = this.pos;
    next.len = bytesRead;
    this.prev = this.cur;
    this.cur = next;
    return true;
  }

  /** Reads and hashes whatever the walk did not ask for, then the digest of the whole file. */
  async finish(): Promise<{ sha256: string; sizeBytes: number }> {
    while (await this.advance());
    return { sha256: this.hash.digest('hex'), sizeBytes: this.pos };
  }
}

/** Scans a closed fMP4 file and hashes it in the same single front-to-back read. */
export async function scanAndHash(path: string): Promise<SegmentDigest> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const src = new HashingSource(fh, size);
    const scan = await scanFmp4Source(src);
    const { sha256, sizeBytes } = await src.finish();
    return { scan, sha256, sizeBytes };
  } finally {
    await fh.close();
  }
}

/** SHA-256 and length of a file, streamed (check --deep, exports, and files whose scan came from elsewhere). */
export async function hashFile(path: string): Promise<{ sha256: string; sizeBytes: number }> {
  const fh = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    let size = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, size);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
    return { sha256: hash.digest('hex'), sizeBytes: size };
  } finally {
    await fh.close();
  }
}
