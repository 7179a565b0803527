/**
 * Container bytes per minute of the recorder's segment files (everything but the samples: init, moof,
 * mdat headers, mfra), one fragment per GOP against fragments of at most RECORD_FRAGMENT_US: two ffmpegs
 * record the same fake camera (noisy 1280×720, 15 fps, 2 Mbit/s, 2 s GOP) with the recorder's segment
 * options, one with `frag_duration` and one without.
 * Standalone: `node --import tsx bench/fragment-bytes.ts [seconds]` (default 60).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RtspServer } from '../src/demo/rtsp-server.js';
import { VIDEO_TRACK_TIMESCALE } from '../src/media/ffmpeg-common-args.js';
import { scanFmp4 } from '../src/media/fmp4/scan.js';
import { RECORD_FRAGMENT_US } from '../src/media/recorder-args.js';

const seconds = Number(process.argv[2] ?? 60);
if (!Number.isInteger(seconds) || seconds < 1) {
  process.stderr.write(`fragment-bytes: seconds must be a whole number ≥ 1, got "${process.argv[2]}"\nusage: node --import tsx bench/fragment-bytes.ts [seconds]\n`);
  process.exit(2);
}
const server = await RtspServer.start({ mounts: [{ name: 'c', pattern: 'snow', width: 1280, height: 720, fps: 15, gop: 30, bitrateKbps: 2000, shared: true }] });
const dir = await mkdtemp(join(tmpdir(), 'vigil-fragment-bytes-'));
try {
  const record = (name: string, fragment: string) =>
    new Promise<void>((resolve, reject) => {
      const p = spawn('ffmpeg', [
        '-v', 'error', '-rtsp_transport', 'tcp', '-i', server.url('c'), '-map', '0:v:0', '-c', 'copy', '-t', String(seconds),
        '-f', 'segment', '-segment_time', '10', '-segment_format', 'mp4',
        '-segment_format_options', `movflags=+frag_keyframe+empty_moov+default_base_moof${fragment}:flush_packets=1:video_track_timescale=${VIDEO_TRACK_TIMESCALE}`,
        join(dir, `${name}-%03d.mp4`),
      ], { stdio: ['ignore', 'inherit', 'inherit'] });
      p.once('error', reject);
      p.once('close', () => resolve());
    });
  await Promise.all([record('gop', ''), record('short', `:frag_duration=${RECORD_FRAGMENT_US}`)]);
  for (const [name, label] of [['gop', 'one fragment per GOP'], ['short', `fragments ≤ ${RECORD_FRAGMENT_US / 1000} ms`]] as const) {
    let total = 0;
    let container = 0;
    let media = 0;
    let fragments = 0;
    for (const f of (await readdir(dir)).filter((x) => x.startsWith(`${name}-`)).sort()) {
      const buf = await readFile(join(dir, f));
      total += buf.length;
      for (let o = 0; o + 8 <= buf.length; ) {
        const size = buf.readUInt32BE(o);
        const type = buf.toString('latin1', o + 4, o + 8);
        if (size < 8) break;
        container += type === 'mdat' ? 8 : size;
        if (type === 'moof') fragments++;
        o += size;
      }
      media += (await scanFmp4(join(dir, f))).videoDurationSeconds;
    }
    process.stdout.write(`${label}: ${(total / 1e6).toFixed(2)} MB over ${media.toFixed(1)} s, ${fragments} fragments; container ${(container / (media / 60) / 1024).toFixed(1)} KiB/min (${((100 * container) / total).toFixed(3)} % of the bytes)\n`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
  await server.stop();
}
