import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanFmp4, scanFmp4Buffer } from '../media/fmp4/scan.js';
import { hashFile, scanAndHash, SCAN_CHUNK_BYTES, SCAN_READERS } from './segment-digest.js';

const run = promisify(execFile);

describe('a closed file read once for its structure and its hash', () => {
  let dir: string;
  let file: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'segment-digest-'));
    file = join(dir, 'seg.mp4');
    // ~7 MB in 40 fragments: several read chunks, with moofs and mdats straddling their ends.
    await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=15', '-t', '8', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '12', '-g', '15', '-pix_fmt', 'yuv420p',
      '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-frag_duration', '200000', file]);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the scan the plain reader gives and the SHA-256 of every byte, however many read at once', async () => {
    const bytes = await readFile(file);
    expect(bytes.length).toBeGreaterThan(4 * SCAN_CHUNK_BYTES);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const plain = await scanFmp4(file);
    expect(plain.fragments.length).toBeGreaterThan(30);
    // More files at once than readers: the others wait, and chunks are handed from one to the next.
    const digests = await Promise.all(Array.from({ length: 2 * SCAN_READERS + 1 }, () => scanAndHash(file)));
    for (const d of digests) {
      expect(d.sha256).toBe(sha256);
      expect(d.sizeBytes).toBe(bytes.length);
      expect(d.scan).toEqual(plain);
    }
    expect(await hashFile(file)).toEqual({ sha256, sizeBytes: (await stat(file)).size });
  });

  it('reads whole a moof whose header or body crosses the end of a read chunk', async () => {
    const bytes = await readFile(file);
    const original = scanFmp4Buffer(bytes);
    const firstMoof = original.initEndOffset;
    const target = original.fragments.find((f) => f.offset >= SCAN_CHUNK_BYTES);
    expect(target).toBeDefined();
    const moofAt = (target as { offset: number }).offset;
    // A free box after the moov moves every fragment; sized so that the target's moof starts `before`
    // bytes short of a chunk's end: its size field, its header, or its body crosses into the next chunk
    // (12: the header is read across the end, and the body then starts in the older chunk of the two held).
    for (const before of [4, 8, 12, 40]) {
      const k = Math.ceil((moofAt + 8 + before) / SCAN_CHUNK_BYTES);
      const pad = k * SCAN_CHUNK_BYTES - before - moofAt;
      const free = Buffer.alloc(pad);
      free.writeUInt32BE(pad, 0);
      free.write('free', 4, 'latin1');
      const shifted = Buffer.concat([bytes.subarray(0, firstMoof), free, bytes.subarray(firstMoof)]);
      const path = join(dir, `shifted-${before}.mp4`);
      await writeFile(path, shifted);
      const plain = await scanFmp4(path);
      expect(plain.fragments.find((f) => f.offset === moofAt + pad)).toBeDefined();
      const d = await scanAndHash(path);
      expect(d.scan).toEqual(plain);
      expect(d.sha256).toBe(createHash('sha256').update(shifted).digest('hex'));
    }
  });
});
