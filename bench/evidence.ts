/**
 * Figures of evidence (docs/evidence.md), on synthesized footage: one 60-s 720p segment of noisy
 * H.264 at ~2 Mbit/s (fragmented MP4 as the recorder writes it), copied into `minutes` segment files
 * per camera.
 *
 * - indexing CPU with hashing ÷ without: the indexer's read of a closed file with the SHA-256 taken
 *   in the same pass (and the signed chain link) against the header-only scan it replaced (no hash, no
 *   link), both on warm files, CPU time of this process;
 * - the same cost per recorded camera: hashing CPU per second of 2 Mbit/s footage;
 * - `vigil verify` throughput ÷ `sha256sum` of the same bundle (warm cache; both separate processes);
 * - a bundle of `minutes` × `cameras`: POST → done, and its download's first byte, ÷ the clip route
 *   fetching the same clips one after the other (curl).
 *
 * Standalone: `node --import tsx bench/evidence.ts [--minutes 10] [--cameras 4] [--quick]`.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { createApp, type VigilApp } from '../src/app.js';
import { buildConfig } from '../src/config/config.js';
import { upsertDeclaredCamera } from '../src/db/camera.repo.js';
import { openDatabase } from '../src/db/connection.js';
import { indexSegment } from '../src/db/segment.repo.js';
import { SigningKey } from '../src/evidence/signing-key.js';
import { scanFmp4 } from '../src/media/fmp4/scan.js';
import { systemClock } from '../src/shared/clock.js';
import { scanAndHash } from '../src/storage/segment-digest.js';
import { benchCredentials } from './auth.js';
import { cleanupAll, defer, installSignalHandlers, tempDir } from './cleanup.js';
import { percentile } from './proc.js';
import { vigilEntry } from './processes.js';
import { check, fmt, goal, renderTable, type SectionResult } from './report.js';

const run = promisify(execFile);
const SEGMENT_S = 60;
const FPS = 15;
const T0 = Date.UTC(2026, 0, 6, 8, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

export interface EvidenceBenchOptions {
  minutes: number;
  cameras: number;
  /** Files indexed per measured round of the hashing figure. */
  indexFiles: number;
  repetitions: number;
  log: (msg: string) => void;
}

export async function runEvidence(o: EvidenceBenchOptions): Promise<SectionResult[]> {
  const work = await tempDir('vigil-bench-evidence-');
  o.log(`  synthesizing a ${SEGMENT_S}-s 720p segment (noise, ~2 Mbit/s, ${FPS} fps) …`);
  const source = join(work.path, 'source.mp4');
  await run('ffmpeg', [
    '-hide_banner', '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=${FPS},noise=alls=12:allf=t`, '-t', String(SEGMENT_S),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '2M', '-maxrate', '2M', '-bufsize', '2M', '-g', String(FPS * 2), '-pix_fmt', 'yuv420p',
    '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', source,
  ]);
  const segBytes = (await stat(source)).size;

  // 1. Indexing CPU, hashing vs not, on the same warm files, alternating rounds.
  const idxDir = join(work.path, 'index');
  await mkdir(idxDir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < o.indexFiles; i++) {
    const f = join(idxDir, `seg${i}.mp4`);
    await copyFile(source, f);
    files.push(f);
  }
  for (const f of files) await readFile(f); // warm the page cache
  const opened = await openDatabase(join(idxDir, 'vigil.db'));
  const key = await SigningKey.open(join(idxDir, 'key.pem'), opened.db, systemClock);
  const cam = (id: string) => ({ id, name: id, mainUrl: 'rtsp://127.0.0.1:9/x', subUrl: null, segmentSeconds: 60, retentionHours: null, storageQuotaBytes: null, enabled: false });
  const withHash: number[] = [];
  const without: number[] = [];
  let round = 0;
  for (let r = 0; r < o.repetitions; r++) {
    for (const hashed of r % 2 === 0 ? [false, true] : [true, false]) {
      const cameraId = `c${round++}`;
      await upsertDeclaredCamera(opened.db, cam(cameraId), 'config', T0);
      const cpu0 = process.cpuUsage();
      for (const [i, f] of files.entries()) {
        const startMs = T0 + i * SEGMENT_S * 1000;
        const base = { cameraId, path: `recordings/${cameraId}/${i}.mp4`, startMs, endMs: startMs + SEGMENT_S * 1000, codec: 'avc1', width: 1280, height: 720, source: 'live' as const, fps: FPS };
        if (hashed) {
          const d = await scanAndHash(f);
          await indexSegment(opened.db, { ...base, sizeBytes: d.sizeBytes, sha256: d.sha256 }, T0, undefined, key);
        } else {
          await scanFmp4(f);
          await indexSegment(opened.db, { ...base, sizeBytes: (await stat(f)).size }, T0);
        }
      }
      const cpu = process.cpuUsage(cpu0);
      (hashed ? withHash : without).push((cpu.user + cpu.system) / 1000 / files.length);
    }
  }
  await opened.close();
  const hashMs = percentile(withHash, 50);
  const plainMs = percentile(without, 50);
  const hashRatio = hashMs / plainMs;
  const extraMsPerSegment = hashMs - plainMs;
  // Per camera: one segment of SEGMENT_S seconds costs `extraMsPerSegment` more; as a share of one core.
  const corePerCamera = extraMsPerSegment / (SEGMENT_S * 1000);

  // 2 and 3: an in-process Vigil with `cameras` × `minutes` of footage.
  const dataDir = join(work.path, 'data');
  const cameraIds = Array.from({ length: o.cameras }, (_, i) => `cam${i + 1}`);
  await mkdir(dataDir, { recursive: true });
  const seeded = await openDatabase(join(dataDir, 'vigil.db'));
  const seedKey = await SigningKey.open(join(dataDir, 'keys', 'signing-key.pem'), seeded.db, systemClock);
  const digest = await scanAndHash(source);
  for (const id of cameraIds) {
    await upsertDeclaredCamera(seeded.db, cam(id), 'config', T0);
    await mkdir(join(dataDir, 'recordings', id), { recursive: true });
    for (let i = 0; i < o.minutes; i++) {
      const startMs = T0 + i * SEGMENT_S * 1000;
      const name = `${iso(startMs).replace(/[-:]/g, '').replace(/\.000Z$/, 'Z')}-bench.mp4`;
      await copyFile(source, join(dataDir, 'recordings', id, name));
      await indexSegment(
        seeded.db,
        { cameraId: id, path: `recordings/${id}/${name}`, startMs, endMs: startMs + SEGMENT_S * 1000, sizeBytes: segBytes, codec: 'avc1', width: 1280, height: 720, source: 'live', fps: FPS, sha256: digest.sha256 },
        T0,
        undefined,
        seedKey,
      );
    }
  }
  await seeded.close();
  const app = await startApp(dataDir, cameraIds);
  const stopApp = defer('in-process Vigil', () => app.stop());
  try {
    const endMs = T0 + o.minutes * SEGMENT_S * 1000;
    const clipRuns: number[] = [];
    const clipTtfb: number[] = [];
    const bundleRuns: number[] = [];
    const bundleTtfb: number[] = [];
    let bundlePath = '';
    let bundleBytes = 0;
    for (const id of cameraIds) await curl(`${app.url}/api/v1/cameras/${id}/clip.mp4?from=${iso(T0)}&to=${iso(endMs)}`); // warm
    for (let r = 0; r < o.repetitions; r++) {
      const t0 = performance.now();
      let first = NaN;
      for (const id of cameraIds) {
        const c = await curl(`${app.url}/api/v1/cameras/${id}/clip.mp4?from=${iso(T0)}&to=${iso(endMs)}`);
        if (Number.isNaN(first)) first = c.ttfbMs;
      }
      clipRuns.push(performance.now() - t0);
      clipTtfb.push(first);

      const b0 = performance.now();
      const res = await fetch(`${app.url}/api/v1/exports`, {
        method: 'POST',
        headers: { ...authHeaders, 'content-type': 'application/json' },
        body: JSON.stringify({ camera_ids: cameraIds, from: iso(T0), to: iso(endMs), reason: 'bench' }),
      });
      const job = (await res.json()) as { id: string };
      for (;;) {
        const j = (await (await fetch(`${app.url}/api/v1/exports/${job.id}`, { headers: authHeaders })).json()) as { state: string; error: string | null };
        if (j.state === 'done') break;
        if (j.state === 'failed') throw new Error(`export failed: ${j.error}`);
        await new Promise((r2) => setTimeout(r2, 20));
      }
      const built = performance.now() - b0;
      bundlePath = join(work.path, `bundle-${r}.zip`);
      const d = await curl(`${app.url}/api/v1/exports/${job.id}/bundle.zip`, bundlePath);
      bundleRuns.push(built + d.totalMs);
      bundleTtfb.push(built + d.ttfbMs);
      bundleBytes = d.bytes;
      o.log(`  run ${r + 1}/${o.repetitions}: clips ${fmt.ms(clipRuns.at(-1)!)}, bundle built ${fmt.ms(built)} + download ${fmt.ms(d.totalMs)}`);
    }
    await stopApp();

    // verify vs sha256sum, same file, warm.
    await run('sha256sum', [bundlePath]);
    const verifyRuns: number[] = [];
    const sumRuns: number[] = [];
    let verifyOk = true;
    for (let r = 0; r < o.repetitions; r++) {
      const s0 = performance.now();
      await run('sha256sum', [bundlePath]);
      sumRuns.push(performance.now() - s0);
      const v0 = performance.now();
      const v = await new Promise<number>((res) => spawn(process.execPath, [...vigilEntry().args, 'verify', bundlePath], { stdio: 'ignore' }).on('exit', (code) => res(code ?? 1)));
      verifyRuns.push(performance.now() - v0);
      verifyOk &&= v === 0;
    }
    const verifyMs = percentile(verifyRuns, 50);
    const sumMs = percentile(sumRuns, 50);
    const verifyRatio = sumMs / verifyMs;
    const clipMs = percentile(clipRuns, 50);
    const bundleMs = percentile(bundleRuns, 50);
    const label = `${o.minutes} min × ${o.cameras} cameras (720p, 2 Mbit/s)`;
    return [
      {
        name: 'evidence',
        rows: [
          {
            figure: `Indexing CPU per 60-s segment (${fmt.num(segBytes / 1e6)} MB, warm): scan + SHA-256 in one read + signed chain link vs header-only scan, no hash`,
            value: fmt.ms(hashMs, 2),
            baseline: fmt.ms(plainMs, 2),
            ratio: fmt.ratio(hashRatio),
            goal: goal('≤ 1.05×', check(hashRatio, (v) => v <= 1.05)),
          },
          { figure: 'Hashing cost per recorded camera at 2 Mbit/s (share of one core)', value: `${(corePerCamera * 100).toFixed(3)} %` },
          {
            figure: `vigil verify of the ${label} bundle (${fmt.num(bundleBytes / 1e6)} MB; whole process, ${verifyOk ? 'valid' : 'NOT VALID'}) vs sha256sum of it`,
            value: `${fmt.num(bundleBytes / 1e6 / (verifyMs / 1000))} MB/s`,
            baseline: `${fmt.num(bundleBytes / 1e6 / (sumMs / 1000))} MB/s`,
            ratio: fmt.ratio(verifyRatio),
            goal: goal('≥ 0.9×', check(verifyRatio, (v) => v >= 0.9)),
          },
          {
            figure: `Bundle of ${label}: POST → first byte of bundle.zip vs the clip route's first byte`,
            value: fmt.ms(percentile(bundleTtfb, 50)),
            baseline: fmt.ms(percentile(clipTtfb, 50), 1),
          },
          {
            figure: `Bundle of ${label}: POST → last byte vs the ${o.cameras} clips fetched one after another`,
            value: fmt.ms(bundleMs),
            baseline: fmt.ms(clipMs),
            ratio: fmt.ratio(bundleMs / clipMs),
          },
        ],
        data: { segBytes, withHashMs: withHash, withoutHashMs: without, hashRatio, corePerCamera, verifyRuns, sumRuns, bundleBytes, clipRuns, clipTtfb, bundleRuns, bundleTtfb },
      },
    ];
  } finally {
    await stopApp();
  }
}

let authHeaders: Record<string, string> = {};

async function startApp(dataDir: string, cameraIds: string[]): Promise<VigilApp> {
  const config = buildConfig(
    {
      demo: false,
      listen: '127.0.0.1:0',
      log_level: 'warn',
      retention: { min_free_bytes: 0 },
      cameras: cameraIds.map((id) => ({ id, main_url: 'rtsp://127.0.0.1:9/none', enabled: false })),
    },
    { source: null, cwd: dataDir, env: {}, overrides: { dataDir } },
  );
  const app = await createApp(config, { log: pino({ level: 'warn' }) });
  authHeaders = (await benchCredentials(app)).headers;
  await app.start();
  return app;
}

/** curl to a file (or /dev/null): time to first byte and total, as curl measures them. */
async function curl(url: string, out = '/dev/null'): Promise<{ ttfbMs: number; totalMs: number; bytes: number }> {
  const { stdout } = await run('curl', ['-sS', '-f', '-o', out, '-H', `authorization: ${authHeaders.authorization ?? ''}`, '-w', '%{time_starttransfer} %{time_total} %{size_download}', url], { maxBuffer: 1 << 20 });
  const [ttfb, total, bytes] = stdout.trim().split(' ').map(Number) as [number, number, number];
  return { ttfbMs: ttfb * 1000, totalMs: total * 1000, bytes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  installSignalHandlers();
  const quick = process.argv.includes('--quick');
  const arg = (name: string, d: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : d;
  };
  try {
    const sections = await runEvidence({
      minutes: arg('minutes', quick ? 2 : 10),
      cameras: arg('cameras', quick ? 2 : 4),
      indexFiles: quick ? 10 : 30,
      repetitions: quick ? 2 : 3,
      log: (m) => process.stderr.write(`${m}\n`),
    });
    process.stdout.write(renderTable(sections));
  } finally {
    await cleanupAll();
  }
}
