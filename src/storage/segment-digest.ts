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

/**
 * Bytes read per call. Each read is handed to libuv's thread pool and back (~60 µs of a core on this
 * project's VMs whatever its size), so chunks are large; but not larger than a core's L2 cache (512 KiB
 * here), or the hash reads each chunk back from memory. Read and hashed in a loop from the page cache
 * (60 s of 2-Mbit/s noise in the recorder's fragment layout, 14.4 MB; `node --import tsx
 * bench/scan-chunk.ts`), 1-MiB chunks cost ~21 ms of CPU per file and 512-KiB ones ~14 ms. Inside
 * a recording Vigil (16 cameras, side by side with the 1-MiB build) the CPU did not differ measurably;
 * the process's RSS was 3–6 MiB lower (docs/proof.md, issue 17, twenty-second session).
 */
export const SCAN_CHUNK_BYTES = 512 * 1024;

/**
 * Files read at once. Cameras that share a segment length close their files together (16 cameras:
 * 16 index jobs in the same few ms); each read holds two chunks, so unbounded they took 32 MiB of
 * buffers at once, every segment length, and the process's RSS with it. The hash runs on the main
 * thread, so more than two at a time on a two-core box would only hold more buffers: 2 MiB in all.
 */
export const SCAN_READERS = 2;
const CHUNK = SCAN_CHUNK_BYTES;
const MAX_READERS = SCAN_READERS;
/** Chunks kept for the next read: every chunk the readers may hold at once, allocated once. */
const spareChunks: Buffer[] = [];
let readers = 0;
const waiting: Array<() => void> = [];

async function takeReader(): Promise<void> {
  while (readers >= MAX_READERS) await new Promise<void>((resolve) => waiting.push(resolve));
  readers++;
}

function releaseReader(): void {
  readers--;
  waiting.shift()?.();
}

function takeChunk(): Buffer {
  return spareChunks.pop() ?? Buffer.allocUnsafe(CHUNK);
}

function giveBack(chunk: Buffer): void {
  if (chunk.length === CHUNK && spareChunks.length < 2 * MAX_READERS) spareChunks.push(chunk);
}

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

  /** Where the bytes in hand begin: the older chunk's start, or the newer's while there is only one. */
  private get heldFrom(): number {
    return this.prev.len > 0 ? this.prev.start : this.cur.start;
  }

  /** A copy of the bytes when the chunks in hand hold them all (a box header, a moof body), else undefined. */
  readHeld(offset: number, length: number): Buffer | undefined {
    const end = Math.min(offset + length, this.size);
    if (end > this.pos || offset < this.heldFrom) return undefined;
    return this.copyHeld(offset, end);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.size);
    const out = Buffer.allocUnsafe(Math.max(0, end - offset));
    let filled = 0;
    // Copied as the chunks pass: a request may span more than the two in hand (a large moov).
    while (offset + filled < end) {
      const at = offset + filled;
      if (at >= this.pos) {
        if (!(await this.advance())) break; // shrank under us: the digest covers what was there
        continue;
      }
      if (at < this.heldFrom) throw new Error(`hashing read went backwards (${at} < ${this.heldFrom})`);
      const n = Math.min(end, this.pos) - at;
      this.copyHeld(at, at + n, out, filled);
      filled += n;
    }
    return out.subarray(0, filled);
  }

  /** Copies [offset, end), which the chunks in hand hold, into `out` at `into` (a new buffer by default). */
  private copyHeld(offset: number, end: number, out = Buffer.allocUnsafe(Math.max(0, end - offset)), into = 0): Buffer {
    for (let at = offset; at < end; ) {
      const c = at >= this.cur.start ? this.cur : this.prev;
      const n = Math.min(end, c.start + c.len) - at;
      c.mem.copy(out, into + at - offset, at - c.start, at - c.start + n);
      at += n;
    }
    return out;
  }

  /** Reads and hashes the next chunk into the older buffer; false at the end of the file. */
  private async advance(): Promise<boolean> {
    const want = Math.min(CHUNK, this.size - this.pos);
    if (want <= 0) return false;
    const next = this.prev;
    if (next.mem.length < want) next.mem = takeChunk();
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

  /** Hands the chunks back to the pool; the source reads nothing more. */
  release(): void {
    for (const c of [this.prev, this.cur]) {
      giveBack(c.mem);
      c.mem = Buffer.allocUnsafe(0);
      c.len = 0;
    }
  }
}

/** Scans a closed fMP4 file and hashes it in the same single front-to-back read. */
export async function scanAndHash(path: string): Promise<SegmentDigest> {
  await takeReader();
  try {
    const fh = await open(path, 'r');
    let src: HashingSource | undefined;
    try {
      const { size } = await fh.stat();
      src = new HashingSource(fh, size);
      const scan = await scanFmp4Source(src);
      const { sha256, sizeBytes } = await src.finish();
      return { scan, sha256, sizeBytes };
    } finally {
      src?.release();
      await fh.close();
    }
  } finally {
    releaseReader();
  }
}

/** SHA-256 and length of a file, streamed (check --deep, exports, and files whose scan came from elsewhere). */
export async function hashFile(path: string): Promise<{ sha256: string; sizeBytes: number }> {
  await takeReader();
  try {
    const fh = await open(path, 'r');
    const buf = takeChunk();
    try {
      const hash = createHash('sha256');
      let size = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, CHUNK, size);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        size += bytesRead;
      }
      return { sha256: hash.digest('hex'), sizeBytes: size };
    } finally {
      giveBack(buf);
      await fh.close();
    }
  } finally {
    releaseReader();
  }
}
