/**
 * How many cameras this machine records with zero gaps: Vigil (a child process) records 8, 16, 32, 64 …
 * cameras of ~2 Mbit/s each for `minutes` per step, and a step passes when no gap was recorded, no
 * recorder exited or stalled, and every camera's footage covers the window (less three segment
 * lengths) with a segment in the last three. The ramp stops at the first
 * failed step. The fake cameras (bench/camera-farm.ts: a shared GStreamer mount encoded once per server
 * process, up to 64 cameras per process, each with a keeper client; joins do not seek) have their CPU
 * reported apart from Vigil's; a fake camera server that dies fails the step as a fixture failure, not as
 * Vigil's gaps. Also: restart-to-recording after kill -9 (every camera recording again).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { CameraFarm, serversFor } from './camera-farm.js';
import { defer, tempDir } from './cleanup.js';
import { allStats, CpuTracker, percentile, sleep, waitUntil } from './proc.js';
import { spawnBareRecorder, startVigilChild, type VigilChild, type VigilEntry } from './processes.js';
import { fmt, type Row, type SectionResult } from './report.js';

const MOUNT = { name: 'capacity', pattern: 'snow', width: 1280, height: 720, fps: 15, bitrateKbps: 2000 } as const;
/**
 * Cameras per fake camera server process. Each process encodes the stream once (~20 % of a core here):
 * 64 clients per process (joined after its keeper, without seek) keep the fixture's share of two cores
 * lower at 128 cameras than 32 did (4 encoders: 79 % of a core).
 */
const PER_SERVER = 64;

export interface CapacityOptions {
  steps: number[];
  minutes: number;
  segmentSeconds: number;
  entry: VigilEntry;
  log: (msg: string) => void;
}

interface StepResult {
  cameras: number;
  passed: boolean;
  gaps: number;
  exits: number;
  segments: number;
  expectedSegments: number;
  /** Mean length of the window's segments: above segmentSeconds when the fake cameras' GOPs stretch. */
  meanSegmentSeconds: number;
  vigilCpu: number;
  vigilNodeCpu: number;
  serverCpu: number;
  reason: string;
}

function one(db: BetterSqlite3.Database, sql: string, ...args: unknown[]): number {
  return Number((db.prepare(sql).get(...args) as { n: number | null }).n ?? 0);
}

/** Every camera recording with a recorder started at or after `sinceMs`. */
async function recordingAll(dbPath: string, n: number, timeoutMs: number, sinceMs = 0): Promise<void> {
  const db = new BetterSqlite3(dbPath, { readonly: true, fileMustExist: true });
  try {
    const sql = "SELECT count(*) AS n FROM camera_status WHERE state = 'recording' AND last_started_at_ms >= ?";
    try {
      await waitUntil('every camera recording', () => one(db, sql, sinceMs) >= n, timeoutMs, 100);
    } catch (err) {
      const states = db.prepare('SELECT camera_id, state, last_started_at_ms, reconnect_count, substr(last_error, 1, 200) AS last_error FROM camera_status').all();
      throw new Error(`${String(err)}; since ${sinceMs}: ${JSON.stringify(states)}`);
    }
  } finally {
    db.close();
  }
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `cam${String(i + 1).padStart(3, '0')}`);

async function step(o: CapacityOptions, n: number): Promise<StepResult> {
  const work = await tempDir(`vigil-bench-capacity-${n}-`);
  const farm = await CameraFarm.start({ mount: MOUNT, servers: serversFor(n, PER_SERVER) });
  const stopFarm = defer(`capacity fake cameras (${n})`, () => farm.stop());
  let vigil: VigilChild | undefined;
  try {
    vigil = await startVigilChild(work.path, ids(n).map((id, i) => ({ id, url: farm.url(i), segmentSeconds: o.segmentSeconds })), o.entry);
    const v = vigil;
    try {
      await recordingAll(v.dbPath, n, 120_000);
    } catch (err) {
      // Not every camera got going: a failed step (the reason says whose side failed), not a failed benchmark.
      const db = new BetterSqlite3(v.dbPath, { readonly: true, fileMustExist: true });
      const recording = one(db, "SELECT count(*) AS n FROM camera_status WHERE state = 'recording'");
      const sample = (db.prepare("SELECT last_error AS e FROM camera_status WHERE state <> 'recording' AND last_error IS NOT NULL LIMIT 1").get() as { e: string } | undefined)?.e ?? '';
      db.close();
      o.log(`  ${n} cameras: only ${recording} recording after 120 s (${String(err).slice(0, 80)})`);
      const dead = farm.dead();
      const reason = dead ? `fixture failure: ${dead}` : `only ${recording}/${n} cameras recording within 120 s; last_error: ${sample.split('\n').slice(0, 2).join(' ').slice(0, 160)}`;
      return { cameras: n, passed: false, gaps: 0, exits: 0, segments: 0, expectedSegments: 0, meanSegmentSeconds: NaN, vigilCpu: NaN, vigilNodeCpu: NaN, serverCpu: NaN, reason };
    }
    // One segment length of warm-up, so every camera has closed a first segment before counting starts.
    await sleep(o.segmentSeconds * 1000 + 2000);
    const db = new BetterSqlite3(v.dbPath, { readonly: true, fileMustExist: true });
    try {
      const startMs = Date.now();
      const gaps0 = one(db, 'SELECT count(*) AS n FROM recording_gaps');
      const exits0 = one(db, "SELECT count(*) AS n FROM events WHERE type IN ('recorder_exited', 'recorder_stalled', 'camera_silent')");
      const segs0 = one(db, 'SELECT count(*) AS n FROM segments');
      const cpu = new CpuTracker(() => [v.pid]);
      const node = new CpuTracker(() => [v.pid], false);
      const srv = new CpuTracker(() => farm.pids());
      let stats = allStats();
      cpu.start(stats);
      node.start(stats);
      srv.start(stats);
      o.log(`  ${n} cameras recording; ${o.minutes} min measured`);
      const end = Date.now() + o.minutes * 60_000;
      let failedEarly = '';
      while (Date.now() < end) {
        await sleep(2000);
        stats = allStats();
        cpu.sample(stats);
        node.sample(stats);
        srv.sample(stats);
        if (v.exited()) {
          failedEarly = 'Vigil exited';
          break;
        }
      }
      stats = allStats();
      cpu.stop(stats);
      node.stop(stats);
      srv.stop(stats);
      const seconds = (Date.now() - startMs) / 1000;
      const gaps = one(db, 'SELECT count(*) AS n FROM recording_gaps') - gaps0;
      const exits = one(db, "SELECT count(*) AS n FROM events WHERE type IN ('recorder_exited', 'recorder_stalled', 'camera_silent')") - exits0;
      const segments = one(db, 'SELECT count(*) AS n FROM segments') - segs0;
      // Every camera closes a segment each segment length: allow one per camera for the edges of the window.
      const expectedSegments = Math.floor(seconds / o.segmentSeconds) * n;
      // Footage of the window per camera (what the segments cover of it): a starved fake camera stretches
      // its GOPs, so its segments (cut at a keyframe) run longer and fewer; the footage must not.
      const endMs = Date.now();
      const covered = db.prepare(
        'SELECT camera_id AS id, sum(min(end_ms, ?) - max(start_ms, ?)) AS ms, avg(end_ms - start_ms) AS avg FROM segments WHERE end_ms > ? AND start_ms < ? GROUP BY camera_id',
      ).all(endMs, startMs, startMs, endMs) as Array<{ id: string; ms: number; avg: number }>;
      const slackMs = 3 * o.segmentSeconds * 1000; // the open segment, the one being indexed, and the window's start
      const short = n - covered.filter((c) => c.ms >= endMs - startMs - slackMs).length;
      const meanSegmentSeconds = covered.reduce((a, c) => a + c.avg, 0) / Math.max(1, covered.length) / 1000;
      const behind = one(db, 'SELECT count(*) AS n FROM camera_status WHERE last_segment_at_ms < ?', Date.now() - 3 * o.segmentSeconds * 1000);
      // A fake camera server that died explains the gaps it caused: the step failed on the fixture's side.
      const dead = farm.dead();
      const reasons = [
        dead ? `fixture failure: ${dead}` : '',
        failedEarly,
        gaps > 0 ? `${gaps} gaps` : '',
        exits > 0 ? `${exits} recorder exits` : '',
        short > 0 ? `${short} cameras with less footage than the window (${segments}/${expectedSegments} segments, mean ${meanSegmentSeconds.toFixed(1)} s)` : '',
        behind > 0 ? `${behind} cameras without a recent segment` : '',
      ].filter(Boolean);
      return {
        cameras: n,
        passed: reasons.length === 0,
        gaps,
        exits,
        segments,
        expectedSegments,
        meanSegmentSeconds,
        vigilCpu: cpu.percentOfCore,
        vigilNodeCpu: node.percentOfCore,
        serverCpu: srv.percentOfCore,
        reason: reasons.join(', '),
      };
    } finally {
      db.close();
    }
  } finally {
    await vigil?.stop();
    await work.remove();
    await stopFarm();
  }
}

export async function runCapacity(o: CapacityOptions): Promise<SectionResult[]> {
  const results: StepResult[] = [];
  {
    for (const n of o.steps) {
      const r = await step(o, n);
      results.push(r);
      o.log(`  ${n} cameras: ${r.passed ? 'zero gaps' : `FAILED (${r.reason})`}; Vigil ${r.vigilCpu.toFixed(0)} % core, fake cameras ${r.serverCpu.toFixed(0)} % core`);
      if (!r.passed) break;
    }
  }
  const best = [...results].filter((r) => r.passed).at(-1)?.cameras ?? 0;
  const rows: Row[] = results.map((r) => ({
    figure: `${r.cameras} cameras × ~2 Mbit/s for ${o.minutes} min: gaps / recorder exits / segments (mean length)`,
    value: `${r.gaps} / ${r.exits} / ${r.segments} (mean ${r.meanSegmentSeconds.toFixed(1)} s)`,
    baseline: `Vigil ${r.vigilCpu.toFixed(0)} % core (Node ${r.vigilNodeCpu.toFixed(0)} %); fake cameras ${r.serverCpu.toFixed(0)} %`,
    ratio: '',
    goal: r.passed ? 'zero gaps ✓' : `✗ ${r.reason}`,
  }));
  rows.push({
    figure: `Most cameras recorded ${o.minutes} min with zero gaps (ramp ${o.steps.join(' → ')})`,
    value: String(best),
    baseline: '',
    ratio: '',
    goal: best >= 128 ? '≥ 128 ✓' : '≥ 128 ✗',
  });
  return [{ name: 'capacity', rows, data: { minutes: o.minutes, segmentSeconds: o.segmentSeconds, steps: results, best } }];
}

export interface RestartOptions {
  cameras: number;
  repetitions: number;
  segmentSeconds: number;
  entry: VigilEntry;
  log: (msg: string) => void;
}

/** kill -9 of Vigil while it records, then `vigil serve` again: time until every camera records again. */
export async function runRestart(o: RestartOptions): Promise<SectionResult[]> {
  // The server alone: process start → readyz with no camera, the data dir kept (a restart, not a first start).
  const bare = await tempDir('vigil-bench-start-');
  const toReadyBare: number[] = [];
  try {
    for (let i = 0; i <= o.repetitions + 2; i++) {
      const t0 = Date.now();
      const v = await startVigilChild(bare.path, [], o.entry);
      // The first start creates the catalog and the first admin (a password hash): not a restart.
      if (i > 0) toReadyBare.push(v.readyAtMs - t0);
      await v.stop();
    }
  } finally {
    await bare.remove();
  }
  o.log(`  no camera: readyz ${toReadyBare.join(', ')} ms`);
  const farm = await CameraFarm.start({ mount: MOUNT, servers: serversFor(o.cameras, PER_SERVER) });
  const stopServer = defer('restart fake cameras', () => farm.stop());
  const work = await tempDir('vigil-bench-restart-');
  const cams = ids(o.cameras).map((id, i) => ({ id, url: farm.url(i), segmentSeconds: o.segmentSeconds }));
  const toReady: number[] = [];
  const toRecording: number[] = [];
  // The floor: as many bare ffmpegs (Vigil's recorder argv, quick start) spawned at once from an idle
  // process, until each reports media written. Loading ffmpeg's libraries costs each ~0.1 s of CPU.
  const bareAllRecording: number[] = [];
  for (let i = 0; i < o.repetitions; i++) {
    const t0 = Date.now();
    const bare = cams.map((c) => {
      const dir = join(work.path, `bare-${i}-${c.id}`);
      mkdirSync(dir, { recursive: true });
      return spawnBareRecorder(c.url, dir, o.segmentSeconds, { quickProbe: true });
    });
    try {
      await Promise.all(bare.map((b) => b.recording));
      bareAllRecording.push(Date.now() - t0);
    } finally {
      await Promise.all(bare.map((b) => b.stop()));
    }
    await sleep(1000);
  }
  o.log(`  ${o.cameras} bare ffmpegs spawned at once, every one recording: ${bareAllRecording.join(', ')} ms`);
  let vigil: VigilChild | undefined;
  try {
    vigil = await startVigilChild(work.path, cams, o.entry);
    await recordingAll(vigil.dbPath, o.cameras, 60_000);
    for (let i = 0; i < o.repetitions; i++) {
      await sleep(o.segmentSeconds * 1000 * 1.5);
      process.kill(vigil.pid, 'SIGKILL');
      const dead = vigil;
      await waitUntil('Vigil gone', () => dead.exited(), 10_000, 20);
      const t0 = Date.now();
      vigil = await startVigilChild(work.path, cams, o.entry);
      toReady.push(vigil.readyAtMs - t0);
      // Recording again = every camera recording from a recorder started after the kill.
      await recordingAll(vigil.dbPath, o.cameras, 60_000, t0).catch((err: unknown) => {
        const dead = farm.dead();
        throw dead ? new Error(`fixture failure, not Vigil's: ${dead}`) : err;
      });
      toRecording.push(Date.now() - t0);
      o.log(`  restart ${i + 1}: ready ${toReady.at(-1)} ms, every camera recording ${toRecording.at(-1)} ms`);
    }
  } finally {
    await vigil?.stop();
    await work.remove();
    await stopServer();
  }
  return [{
    name: 'restart',
    rows: [{
      figure: `Start → readyz, no camera (${toReadyBare.length} starts of a kept data dir; p50 / max)`,
      value: `${fmt.num(percentile(toReadyBare, 50))} ms / ${fmt.num(Math.max(...toReadyBare))} ms`,
      baseline: '',
      ratio: '',
      goal: percentile(toReadyBare, 50) <= 1000 ? 'p50 ≤ 1000 ms ✓' : 'p50 ≤ 1000 ms ✗',
    }, {
      figure: `Restart after kill -9 → every camera recording (${o.cameras} cams, ${o.repetitions} kills; p50 / max)`,
      value: `${fmt.num(percentile(toRecording, 50))} ms / ${fmt.num(Math.max(...toRecording))} ms`,
      baseline: `${o.cameras} bare ffmpegs at once ${fmt.num(percentile(bareAllRecording, 50))} ms`,
      ratio: fmt.ratio(percentile(toRecording, 50) / percentile(bareAllRecording, 50)),
      goal: percentile(toRecording, 50) <= 3000 ? 'p50 ≤ 3000 ms ✓' : 'p50 ≤ 3000 ms ✗',
    }, {
      figure: `Restart after kill -9 → readyz 200 (${o.cameras} cams, ${o.repetitions} kills; p50 / max)`,
      value: `${fmt.num(percentile(toReady, 50))} ms / ${fmt.num(Math.max(...toReady))} ms`,
      baseline: '',
      ratio: '',
      goal: percentile(toReady, 50) <= 1000 ? 'p50 ≤ 1000 ms ✓' : 'p50 ≤ 1000 ms ✗',
    }],
    data: { cameras: o.cameras, toReadyBareMs: toReadyBare, toReadyMs: toReady, toRecordingMs: toRecording, bareAllRecordingMs: bareAllRecording },
  }];
}
