/**
 * Crash storm: `vigil serve` killed with SIGKILL at random instants while it records, indexes, sweeps
 * (a tiny storage cap keeps retention deleting) and exports (clip downloads in flight), then started
 * again on the same data dir. After every restart `vigil check` must be clean; across the whole storm
 * no deleted segment may come back, evidence-held segments must survive, read-locks must be 0 when no
 * reader runs, no ffmpeg may outlive its Vigil, and the counters only move forward (invariant 7):
 * reconnect_count and segments_written never go back, and segments_written adds up to the rows ever
 * indexed. At the end a graceful stop and an offline check.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RtspServer } from '../src/demo/rtsp-server.js';
import { sleep } from '../src/shared/sleep.js';
import { startChildVigil, type ChildVigil } from '../test/support/child-vigil.js';
import { checkConsistency, querySql, readCatalog, readCounters } from '../test/support/footage.js';
import { ffmpegPidsFor, removeDir, tempDir, waitFor } from '../test/support/harness.js';
import type { StormOptions, StormResult } from './storm.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export interface CrashStormOptions extends StormOptions {
  cycles?: number;
  seed?: number;
}

function vigilCheck(dataDir: string): Promise<{ code: number; stdout: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check', '--data', dataDir], { cwd: ROOT, env: { ...process.env, VIGIL_LOG_LEVEL: 'silent' } }, (err, stdout) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout });
    });
  });
}

export async function runCrashStorm(o: CrashStormOptions): Promise<StormResult> {
  const cycles = o.cycles ?? (o.size === 'full' ? 50 : 5);
  let seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const firstSeed = seed;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const violations: string[] = [];
  const server = await RtspServer.start({ mounts: [{ name: 'cam1', pattern: 'snow', bitrateKbps: 1500 }, { name: 'cam2' }] });
  const dataDir = await tempDir('vigil-crash-storm-');
  const config = {
    cameras: [
      { id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 },
      { id: 'cam2', main_url: server.url('cam2'), segment_seconds: 3 },
    ],
    recorder: { rtsp_timeout_seconds: 3, backoff_initial_ms: 300, backoff_max_ms: 1000 },
    // A cap a few segments large: the sweeper deletes every second, so kills land mid-sweep too.
    retention: { interval_seconds: 1, max_bytes: 4_000_000, min_free_bytes: 0, batch_size: 2 },
  };
  let vigil: ChildVigil | undefined;
  const deleted = new Set<string>();
  const everSeen = new Set<string>();
  let held: string[] = [];
  let downloads = 0;
  let killsDuringExport = 0;
  let restarts = 0;
  let checks = 0;
  let maxRestartMs = 0;
  const lastCounters = new Map<string, { reconnects: number; written: number }>();
  let counterChecks = 0;

  const observe = (when: string) => {
    const paths = new Set(readCatalog(dataDir).segments.map((s) => s.path));
    for (const p of paths) if (deleted.has(p)) violations.push(`${when}: deleted segment ${p} came back`);
    for (const p of everSeen) if (!paths.has(p)) deleted.add(p);
    for (const p of paths) everSeen.add(p);
    for (const p of held) if (!paths.has(p)) violations.push(`${when}: evidence-held segment ${p} was deleted`);
    const counters = readCounters(dataDir);
    for (const [camera, c] of counters.cameras) {
      const before = lastCounters.get(camera);
      if (before && c.reconnects < before.reconnects) violations.push(`${when}: ${camera} reconnect_count went back ${before.reconnects} → ${c.reconnects}`);
      if (before && c.written < before.written) violations.push(`${when}: ${camera} segments_written went back ${before.written} → ${c.written}`);
      lastCounters.set(camera, c);
    }
    const written = [...counters.cameras.values()].reduce((a, c) => a + c.written, 0);
    if (written !== counters.rowsEverInserted) violations.push(`${when}: segments_written adds up to ${written}, but ${counters.rowsEverInserted} rows were indexed`);
    counterChecks++;
  };

  async function signIn(v: ChildVigil): Promise<string> {
    const password = (await readFile(join(dataDir, 'initial-admin-password'), 'utf8')).trim();
    const res = await fetch(`${v.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) });
    if (!res.ok) throw new Error(`sign-in failed: ${res.status}`);
    return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  }

  /** Clip downloads read slowly, so that read-locks are held when the kill comes. */
  function exportLoop(v: ChildVigil, cookie: string, stop: AbortSignal): Promise<void> {
    return (async () => {
      while (!stop.aborted) {
        const segs = readCatalog(dataDir).segments.filter((s) => s.camera_id === 'cam1');
        const a = segs[Math.floor(rand() * Math.max(1, segs.length - 2))];
        const b = segs.at(-1);
        if (!a || !b) {
          await sleep(200);
          continue;
        }
        try {
          const res = await fetch(`${v.url}/api/v1/cameras/cam1/clip.mp4?from=${new Date(a.start_ms).toISOString()}&to=${new Date(b.end_ms).toISOString()}`, { headers: { cookie }, signal: stop });
          downloads++;
          const reader = res.body?.getReader();
          while (reader && !stop.aborted) {
            const { done } = await reader.read();
            if (done) break;
            await sleep(50);
          }
        } catch {
          /* the kill ends it */
        }
      }
    })();
  }

  try {
    o.log(`crash storm: seed ${firstSeed}, ${cycles} kills`);
    vigil = await startChildVigil(dataDir, config);
    let cookie = await signIn(vigil);
    await waitFor('first segments', () => readCatalog(dataDir).segments.length >= 4, 40_000);
    // Hold the first segments of cam1 as evidence: the cap must never delete them.
    const first = readCatalog(dataDir).segments.filter((s) => s.camera_id === 'cam1').slice(0, 2);
    for (const s of first) {
      const r = await fetch(`${vigil.url}/api/v1/segments/${s.id}/evidence-lock`, { method: 'POST', headers: { cookie, origin: vigil.url, 'content-type': 'application/json' }, body: JSON.stringify({ incident_id: 'storm' }) });
      if (!r.ok) throw new Error(`evidence hold failed: ${r.status}`);
    }
    held = first.map((s) => s.path);

    for (let cycle = 1; cycle <= cycles; cycle++) {
      const stop = new AbortController();
      const exporting = exportLoop(vigil, cookie, stop.signal);
      await sleep(1500 + rand() * 5000);
      const locked = (querySql(dataDir, 'SELECT count(*) AS n FROM segments WHERE locked > 0') as Array<{ n: number }>)[0]?.n ?? 0;
      if (locked > 0) killsDuringExport++;
      observe(`before kill ${cycle}`);
      await vigil.kill9();
      stop.abort();
      await exporting;
      try {
        await waitFor('its ffmpegs to die with it', async () => (await ffmpegPidsFor(dataDir)).length === 0, 5000);
      } catch {
        violations.push(`kill ${cycle}: ffmpeg outlived Vigil: ${(await ffmpegPidsFor(dataDir)).join(', ')}`);
      }
      const t0 = Date.now();
      vigil = await startChildVigil(dataDir, config);
      restarts++;
      cookie = await signIn(vigil);
      await waitFor('recording again', async () => {
        const s = querySql(dataDir, "SELECT count(*) AS n FROM camera_status WHERE state = 'recording'") as Array<{ n: number }>;
        return (s[0]?.n ?? 0) === 2;
      }, 30_000).catch(() => violations.push(`restart ${cycle}: not recording both cameras within 30 s`));
      maxRestartMs = Math.max(maxRestartMs, Date.now() - t0);
      const stale = (querySql(dataDir, 'SELECT count(*) AS n FROM segments WHERE locked > 0') as Array<{ n: number }>)[0]?.n ?? 0;
      if (stale > 0) violations.push(`restart ${cycle}: ${stale} segments still read-locked with no reader`);
      observe(`after restart ${cycle}`);
      const check = await vigilCheck(dataDir);
      checks++;
      if (check.code !== 0) violations.push(`restart ${cycle}: vigil check exit ${check.code}:\n${check.stdout}`);
      o.log(`crash storm: kill ${cycle}/${cycles} done (${readCatalog(dataDir).segments.length} rows)`);
    }
    await sleep(3000);
    observe('end');
    const code = await vigil.term();
    vigil = undefined;
    if (code !== 0) violations.push(`graceful stop exited ${code}`);
    if ((await ffmpegPidsFor(dataDir)).length > 0) violations.push('ffmpeg left after the graceful stop');
    const offline = await vigilCheck(dataDir);
    if (offline.code !== 0) violations.push(`final offline vigil check exit ${offline.code}:\n${offline.stdout}`);
    for (const p of await checkConsistency(dataDir)) violations.push(`final: ${p}`);
    const gone = readCatalog(dataDir).segments;
    for (const p of held) if (!gone.some((s) => s.path === p)) violations.push(`evidence-held ${p} deleted`);
    return {
      name: 'crash storm',
      summary: [
        ['seed', String(firstSeed)],
        ['kill -9', `${cycles} (${killsDuringExport} with a clip download holding read-locks)`],
        ['restarts', String(restarts)],
        ['vigil check after restart', `${checks} run, ${violations.filter((v) => v.includes('vigil check')).length} unclean`],
        ['clip downloads', String(downloads)],
        ['segments deleted by retention', String(deleted.size)],
        ['deleted segments back', String(violations.filter((v) => v.includes('came back')).length)],
        ['evidence-held kept', `${held.length - violations.filter((v) => v.includes('evidence-held')).length}/${held.length}`],
        ['slowest restart → recording', `${(maxRestartMs / 1000).toFixed(1)} s`],
        ['counters checked (monotone, written = rows)', `${counterChecks} times, ${violations.filter((v) => v.includes('went back') || v.includes('adds up')).length} wrong`],
      ],
      violations,
    };
  } finally {
    await vigil?.kill9().catch(() => undefined);
    await server.stop();
    await removeDir(dataDir);
  }
}
