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

/**
 * A ByteSource that reads its file front to back exactly once, hashing every byte as it passes, and
 * answers the fMP4 walk's requests (which only move forward) from what it has read. mdat payloads the
 * scan skips are read and hashed but never kept: memory stays at about one chunk plus the largest moof.
 */
class HashingSource implements ByteSource {
  private readonly hash: Hash = createHash('sha256');
  /** Bytes read and hashed so far. */
  private pos = 0;
  /** The bytes [winStart, pos) kept to answer requests. */
  private win: Buffer = Buffer.alloc(0);
  private winStart = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset < this.winStart) throw new Error(`hashing read went backwards (${offset} < ${this.winStart})`);
    const end = Math.min(offset + length, this.size);
    // Drop what lies before the request: the walk never asks for it again.
    if (offset >= this.pos) {
      await this.advance(offset, false);
      this.win = Buffer.alloc(0);
      this.winStart = offset;
    } else if (offset > this.winStart) {
      this.win = this.win.subarray(offset - this.winStart);
      this.winStart = offset;
    }
    if (end > this.pos) await this.advance(end, true);
    return this.win.subarray(0, Math.max(0, end - offset));
  }

  /** Reads and hashes up to `to` (or the end of the file); keeps the bytes when asked. */
  private async advance(to: number, keep: boolean): Promise<void> {
    const parts: Buffer[] = keep ? [this.win] : [];
    while (this.pos < to) {
      const want = keep ? Math.max(to - this.pos, Math.min(CHUNK, this.size - this.pos)) : Math.min(CHUNK, to - this.pos);
      const buf = Buffer.allocUnsafe(Math.min(want, this.size - this.pos));
      if (buf.length === 0) break;
      const { bytesRead } = await this.fh.read(buf, 0, buf.length, this.pos);
      if (bytesRead === 0) break; // shrank under us: the digest covers what was there
      const got = buf.subarray(0, bytesRead);
      this.hash.update(got);
      this.pos += bytesRead;
      if (keep) parts.push(got);
    }
    if (keep) this.win = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Reads and hashes whatever the walk did not ask for, then the digest of the whole file. */
  async finish(): Promise<{ sha256: string; sizeBytes: number }> {
    await this.advance(this.size, false);
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
