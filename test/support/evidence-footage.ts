import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Db } from '../../src/db/connection.js';
import { indexSegment, type Segment } from '../../src/db/segment.repo.js';
import type { Signer } from '../../src/shared/evidence-hash.js';
import { segmentFileName } from '../../src/storage/segment-names.js';

const run = promisify(execFile);

/**
 * `count` real recorder-like segment files (fragmented MP4, H.264, 2 s each, one keyframe a second),
 * made by one ffmpeg run into `dir`. Returns their paths in order.
 */
export async function makeSegmentFiles(dir: string, count: number, opts: { size?: string; rate?: number } = {}): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const rate = opts.rate ?? 15;
  await run('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${opts.size ?? '160x120'}:rate=${rate}`, '-t', String(count * 2),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(rate), '-pix_fmt', 'yuv420p',
    '-f', 'segment', '-segment_time', '2', '-reset_timestamps', '1', '-segment_format', 'mp4',
    '-segment_format_options', 'movflags=+frag_keyframe+empty_moov+default_base_moof',
    join(dir, 'seg%03d.mp4'),
  ]);
  return (await readdir(dir)).filter((n) => n.startsWith('seg')).sort().map((n) => join(dir, n));
}

/**
 * Copies the files into `<dataDir>/recordings/<camera>/` under recorder names and indexes them as
 * consecutive 2 s segments from `startMs`, hashed and chained as the indexer does (the row's hash
 * is the file's SHA-256; the link is signed with `signer`).
 */
export async function indexFiles(db: Db, dataDir: string, cameraId: string, files: string[], startMs: number, signer: Signer): Promise<Segment[]> {
  const dir = join(dataDir, 'recordings', cameraId);
  await mkdir(dir, { recursive: true });
  const out: Segment[] = [];
  for (const [i, f] of files.entries()) {
    const s = startMs + i * 2000;
    const name = segmentFileName(s, 'r1', String(i).padStart(6, '0'));
    await copyFile(f, join(dir, name));
    const bytes = await readFile(f);
    const r = await indexSegment(
      db,
      {
        cameraId,
        path: `recordings/${cameraId}/${name}`,
        startMs: s,
        endMs: s + 2000,
        sizeBytes: bytes.length,
        codec: 'avc1',
        width: 160,
        height: 120,
        source: 'live',
        fps: 15,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      },
      Date.now(),
      undefined,
      signer,
    );
    if (!r.segment) throw new Error(`segment ${i} not indexed`);
    out.push(r.segment);
  }
  return out;
}
