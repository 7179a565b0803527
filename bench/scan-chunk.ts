/**
 * CPU per closed file of the indexer's single read (scan + SHA-256, `scanAndHash`) against the hash
 * alone, and of the hash's read loop at several chunk sizes: what SCAN_CHUNK_BYTES is chosen from.
 * The file: `seconds` of 1280×720 noise at 2 Mbit/s, 15 fps, 2-s GOP, in the recorder's fragment
 * layout (fragments of at most RECORD_FRAGMENT_US), encoded once by ffmpeg; eight copies are read in
 * turn so the CPU caches do not hold the file (page cache only, as for a file just closed).
 * Standalone: `node --import tsx bench/scan-chunk.ts [seconds]` (default 60).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VIDEO_TRACK_TIMESCALE } from '../src/media/ffmpeg-common-args.js';
import { RECORD_FRAGMENT_US } from '../src/media/recorder-args.js';
import { hashFile, scanAndHash, SCAN_CHUNK_BYTES } from '../src/storage/segment-digest.js';

const seconds = Number(process.argv[2] ?? 60);
if (!Number.isInteger(seconds) || seconds < 1) {
  process.stderr.write(`scan-chunk: seconds must be a whole number ≥ 1, got "${process.argv[2]}"\nusage: node --import tsx bench/scan-chunk.ts [seconds]\n`);
  process.exit(2);
}
const COPIES = 8;
const ROUNDS = 10;
const dir = await mkdtemp(join(tmpdir(), 'vigil-scan-chunk-'));
try {
  const first = join(dir, 'f0.mp4');
  await new Promise<void>((resolve, reject) => {
    const p = spawn('ffmpeg', [
      '-v', 'error', '-f', 'lavfi', '-i', 'nullsrc=s=1280x720:r=15,geq=random(1)*255:128:128', '-t', String(seconds),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '2000k', '-maxrate', '2000k', '-bufsize', '2000k', '-g', '30', '-pix_fmt', 'yuv420p',
      '-f', 'mp4', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-frag_duration', String(RECORD_FRAGMENT_US),
      '-video_track_timescale', String(VIDEO_TRACK_TIMESCALE), first,
    ], { stdio: ['ignore', 'inherit', 'inherit'] });
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}`))));
  });
  const files = [first];
  for (let i = 1; i < COPIES; i++) {
    files.push(join(dir, `f${i}.mp4`));
    await copyFile(first, files[i] as string);
  }
  const mb = (await stat(first)).size / 1e6;
  const hashLoop = (chunk: Buffer) => async (file: string) => {
    const fh = await open(file, 'r');
    try {
      const h = createHash('sha256');
      for (let at = 0; ; ) {
        const { bytesRead } = await fh.read(chunk, 0, chunk.length, at);
        if (bytesRead === 0) break;
        h.update(chunk.subarray(0, bytesRead));
        at += bytesRead;
      }
      return h.digest('hex');
    } finally {
      await fh.close();
    }
  };
  const ways: Array<[string, (file: string) => Promise<unknown>]> = [
    [`scanAndHash (${SCAN_CHUNK_BYTES / 1024} KiB)`, scanAndHash],
    [`hashFile (${SCAN_CHUNK_BYTES / 1024} KiB)`, hashFile],
    ...[128, 256, 512, 768, 1024, 2048].map((k): [string, (file: string) => Promise<unknown>] => [`read + hash, ${k} KiB`, hashLoop(Buffer.allocUnsafe(k * 1024))]),
  ];
  const cpuMs = new Map<string, number[]>(ways.map(([name]) => [name, []]));
  // Rounds interleave the ways, so a busy moment of the machine touches them all alike.
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of ways) {
      const c0 = process.cpuUsage();
      for (const f of files) await fn(f);
      const c = process.cpuUsage(c0);
      cpuMs.get(name)?.push((c.user + c.system) / 1000 / files.length);
    }
  }
  console.log(`one ${mb.toFixed(1)}-MB file (${seconds} s), ${COPIES} copies read in turn, ${ROUNDS} rounds; CPU per file, median (min–max)`);
  for (const [name, v] of cpuMs) {
    v.sort((a, b) => a - b);
    const med = v[v.length >> 1] as number;
    console.log(`  ${name.padEnd(28)} ${med.toFixed(2).padStart(7)} ms  (${(v[0] as number).toFixed(2)}–${(v[v.length - 1] as number).toFixed(2)})  ${(med / mb).toFixed(3)} ms/MB`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
