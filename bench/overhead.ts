/**
 * Figures 1 and 2: recording overhead at N cameras (Vigil + its ffmpegs vs the same number of bare
 * ffmpegs with the recorder's argv, each side on a shared RTSP mount of its own), Vigil's RSS, and segment close → row
 * visible latency (observed while Vigil records).
 *
 * The bare ffmpegs and Vigil record at the same time and are measured over the same window. Measured
 * one after the other, the two phases met different moments of a shared VM: the same ffmpegs' CPU
 * differed between phases by up to ±5 %, which moved the ratio by ±0.05 where Vigil's own share is
 * ~0.12 (docs/proof.md, issue 17). Side by side, whatever slows the machine slows both.
 */
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { RtspServer, rtspServerAvailable } from '../src/demo/rtsp-server.js';
import { defer, tempDir } from './cleanup.js';
import { allStats, CLK_TCK, CpuTracker, percentile, readThreadTicks, RssTracker, sleep, waitUntil } from './proc.js';
import { hashFile } from '../src/storage/segment-digest.js';
import { spawnBareRecorder, startVigilChild, type VigilChild, type VigilEntry } from './processes.js';
import { check, fmt, goal, type Row, type SectionResult } from './report.js';

export interface OverheadOptions {
  cameras: number;
  seconds: number;
  warmupSeconds: number;
  segmentSeconds: number;
  entry: VigilEntry;
  overhead: boolean;
  latency: boolean;
  log: (msg: string) => void;
}

const MOUNT = {
  pattern: 'snow',
  width: 1280,
  height: 720,
  fps: 15,
  bitrateKbps: 2000,
  shared: true,
  // Clients join the running stream, as a real camera's: a restart per join would set back the clock of
  // every client already attached (a backward leap, on which Vigil reconnects).
  seek: false,
} as const;
const VIGIL_MOUNT = { ...MOUNT, name: 'vigil' } as const;
const BARE_MOUNT = { ...MOUNT, name: 'bare' } as const;

const SAMPLE_MS = 500;
const LATENCY_POLL_MS = 20;

interface Window {
  /** Vigil's Node process and its ffmpegs. */
  cpu: CpuTracker;
  /** The Node process alone, without its ffmpegs. */
  own: CpuTracker;
  /** The bare ffmpegs, over the same window (absent when only the latency is measured). */
  bare?: CpuTracker;
  server: CpuTracker;
  rss: RssTracker;
  /** CPU seconds of the Node process's main thread (JavaScript, the hash, GC) over the window. */
  mainThreadCpuSeconds: number;
  /** Each whole minute of the window on its own (none when it is shorter than two minutes). */
  minutes: MinuteFigures[];
  startWallMs: number;
  endWallMs: number;
}

/** One minute of the window: % of a core of Vigil's tree, of its Node process, and of the bare ffmpegs. */
interface MinuteFigures {
  vigilPct: number;
  nodePct: number;
  barePct: number;
}

const MINUTE_MS = 60_000;

/**
 * Measures Vigil's tree and the bare ffmpegs' side by side for `seconds`, sampling every 500 ms. A
 * window of two minutes or more is also cut into minutes: whether the ratio drifts as Vigil runs on
 * (V8 compiling code that runs once a minute, the heap growing between full collections) shows there,
 * where one mean over the window hides it.
 */
async function measure(vigilPid: number, barePids: (() => number[]) | undefined, serverPid: number, seconds: number): Promise<Window> {
  const cpu = new CpuTracker(() => [vigilPid]);
  const own = new CpuTracker(() => [vigilPid], false);
  const bare = barePids ? new CpuTracker(barePids) : undefined;
  const server = new CpuTracker(() => [serverPid]);
  const rss = new RssTracker(() => vigilPid);
  const trackers = [cpu, own, server, ...(bare ? [bare] : [])];
  let stats = allStats();
  const startWallMs = Date.now();
  for (const t of trackers) t.start(stats);
  const mainTicks0 = readThreadTicks(vigilPid) ?? 0;
  rss.sample();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const minutes: MinuteFigures[] = [];
  let mark = { ms: t0, vigil: 0, node: 0, bare: 0 };
  while (performance.now() < end) {
    await sleep(Math.min(SAMPLE_MS, Math.max(0, end - performance.now())));
    stats = allStats();
    for (const t of trackers) t.sample(stats);
    rss.sample();
    const nowMs = performance.now();
    // Within a sample of a minute: samples come every 500 ms and a little more, so the window's
    // last minute would otherwise end just after the window does and go unprinted.
    if (seconds >= 120 && nowMs - mark.ms >= MINUTE_MS - SAMPLE_MS) {
      const next = { ms: nowMs, vigil: cpu.cpuSeconds, node: own.cpuSeconds, bare: bare?.cpuSeconds ?? 0 };
      const pct = (a: number, b: number) => (100 * (a - b)) / ((nowMs - mark.ms) / 1000);
      minutes.push({ vigilPct: pct(next.vigil, mark.vigil), nodePct: pct(next.node, mark.node), barePct: pct(next.bare, mark.bare) });
      mark = next;
    }
  }
  stats = allStats();
  for (const t of trackers) t.stop(stats);
  const mainThreadCpuSeconds = ((readThreadTicks(vigilPid) ?? mainTicks0) - mainTicks0) / CLK_TCK;
  return { cpu, own, ...(bare ? { bare } : {}), server, rss, mainThreadCpuSeconds, minutes, startWallMs, endWallMs: Date.now() };
}

function camIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `cam${String(i + 1).padStart(2, '0')}`);
}

interface BareFarm {
  pids: () => number[];
  /** Stops every bare ffmpeg; how many files they wrote in all. */
  stop: () => Promise<number>;
}

/** N bare ffmpegs recording with the recorder's argv, each into a folder of its own. */
async function startBare(o: OverheadOptions, server: RtspServer): Promise<BareFarm> {
  const dir = await tempDir('vigil-bench-bare-');
  const recs = camIds(o.cameras).map((id) => {
    const out = join(dir.path, id);
    mkdirSync(out, { recursive: true });
    return spawnBareRecorder(server.url(BARE_MOUNT.name), out, o.segmentSeconds);
  });
  let files: number | undefined;
  const stop = async () => {
    if (files !== undefined) return files;
    try {
      await Promise.all(recs.map((r) => r.stop()));
      files = camIds(o.cameras).reduce((n, id) => n + readdirSync(join(dir.path, id)).length, 0);
      return files;
    } finally {
      await dir.remove();
    }
  };
  try {
    await withTimeout(Promise.all(recs.map((r) => r.recording)), 60_000, 'bare ffmpegs to start recording');
  } catch (err) {
    await stop();
    throw err;
  }
  o.log(`  ${o.cameras} bare ffmpeg recording`);
  return { pids: () => recs.map((r) => r.pid), stop };
}

interface Seen {
  path: string;
  indexedAtMs: number;
  seenAtMs: number;
}

/** Polls the catalog read-only and notes when each row first became visible. */
function startRowPoller(dbPath: string): { seen: Map<number, Seen>; stop: () => void } {
  const db = new BetterSqlite3(dbPath, { readonly: true, fileMustExist: true });
  const q = db.prepare<[number], { id: number; path: string; indexed_at_ms: number }>(
    'SELECT id, path, indexed_at_ms FROM segments WHERE id > ? ORDER BY id',
  );
  const seen = new Map<number, Seen>();
  let lastId = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    try {
      for (const r of q.all(lastId)) {
        seen.set(r.id, { path: r.path, indexedAtMs: r.indexed_at_ms, seenAtMs: now });
        lastId = Math.max(lastId, r.id);
      }
    } catch {
      /* busy or closing: the next tick tries again */
    }
  }, LATENCY_POLL_MS);
  const undo = defer('row poller', () => {
    clearInterval(timer);
    db.close();
  });
  return { seen, stop: () => void undo() };
}

function catalogSummary(dbPath: string): { segments: number; gaps: number; reconnects: number; notRecording: number } {
  const db = new BetterSqlite3(dbPath, { readonly: true, fileMustExist: true });
  try {
    const one = (sql: string) => Number((db.prepare(sql).get() as { n: number | null }).n ?? 0);
    return {
      segments: one('SELECT count(*) AS n FROM segments'),
      gaps: one('SELECT count(*) AS n FROM recording_gaps'),
      reconnects: one('SELECT sum(reconnect_count) AS n FROM camera_status'),
      notRecording: one("SELECT count(*) AS n FROM camera_status WHERE state <> 'recording'"),
    };
  } finally {
    db.close();
  }
}

/** Vigil recording N cameras, measured side by side with the bare ffmpegs when they run. */
async function phaseVigil(o: OverheadOptions, server: RtspServer, bare: BareFarm | undefined) {
  const work = await tempDir('vigil-bench-vigil-');
  let vigil: VigilChild | undefined;
  let poller: ReturnType<typeof startRowPoller> | undefined;
  try {
    const cams = camIds(o.cameras).map((id) => ({ id, url: server.url(VIGIL_MOUNT.name), segmentSeconds: o.segmentSeconds }));
    vigil = await startVigilChild(work.path, cams, o.entry);
    const dbPath = vigil.dbPath;
    poller = startRowPoller(dbPath);
    const statusDb = new BetterSqlite3(dbPath, { readonly: true, fileMustExist: true });
    try {
      await waitUntil(
        'every camera recording',
        () => (statusDb.prepare("SELECT count(*) AS n FROM camera_status WHERE state = 'recording'").get() as { n: number }).n >= o.cameras,
        60_000,
        200,
      );
    } finally {
      statusDb.close();
    }
    o.log(
      `  Vigil (${o.entry.kind}) recording ${o.cameras} cameras${bare ? ', beside the bare ffmpegs' : ''}; warm-up ${o.warmupSeconds} s, then ${o.seconds} s measured`,
    );
    await sleep(o.warmupSeconds * 1000);
    const w = await measure(vigil.pid, bare?.pids, server.pid, o.seconds);
    // Let rows of files closed just before the window's end appear.
    await sleep(1500);
    poller.stop();
    const summary = catalogSummary(dbPath);
    const samples: Array<{ visibleMs: number; indexedMs: number }> = [];
    const closedInWindow: Array<{ path: string; bytes: number }> = [];
    for (const s of poller.seen.values()) {
      let st: { mtimeMs: number; size: number };
      try {
        st = statSync(join(vigil.dataDir, s.path));
      } catch {
        continue;
      }
      if (st.mtimeMs < w.startWallMs || st.mtimeMs > w.endWallMs) continue;
      samples.push({ visibleMs: s.seenAtMs - st.mtimeMs, indexedMs: s.indexedAtMs - st.mtimeMs });
      closedInWindow.push({ path: join(vigil.dataDir, s.path), bytes: st.size });
    }
    const integrity = await integrityFloor(closedInWindow, (w.endWallMs - w.startWallMs) / 1000);
    await vigil.stop();
    return { ...w, summary, samples, integrity };
  } finally {
    poller?.stop();
    await vigil?.stop();
    await work.remove();
  }
}

/**
 * What invariant 10 costs at the least: reading and hashing every byte of the files Vigil closed in the
 * window, at the speed this process reads and hashes the same files (up to 8 of them, from the page
 * cache, with the indexer's own `hashFile`). Vigil does this work and more (the scan shares the read),
 * so it is a floor under Vigil's own CPU, not an estimate of it.
 */
async function integrityFloor(files: Array<{ path: string; bytes: number }>, windowSeconds: number) {
  const bytes = files.reduce((n, f) => n + f.bytes, 0);
  const sample = files.slice(0, 8);
  let msPerMb = NaN;
  if (sample.length > 0) {
    for (const f of sample) await hashFile(f.path); // into the page cache, and the code warmed
    const c0 = process.cpuUsage();
    for (const f of sample) await hashFile(f.path);
    const c = process.cpuUsage(c0);
    msPerMb = (c.user + c.system) / 1000 / (sample.reduce((n, f) => n + f.bytes, 0) / 1e6);
  }
  const mbPerSecond = bytes / 1e6 / windowSeconds;
  return { files: files.length, bytes, mbPerSecond, msPerMb, percentOfCore: (mbPerSecond * msPerMb) / 10 };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export async function runOverhead(o: OverheadOptions): Promise<SectionResult[]> {
  const avail = await rtspServerAvailable();
  if (!avail.ok) throw new Error(`RTSP server unavailable: ${avail.reason}`);
  const server = await RtspServer.start({ mounts: o.overhead ? [VIGIL_MOUNT, BARE_MOUNT] : [VIGIL_MOUNT] });
  const stopServer = defer('RTSP server', () => server.stop());
  try {
    const farm = o.overhead ? await startBare(o, server) : undefined;
    let vig: Awaited<ReturnType<typeof phaseVigil>>;
    let bareFiles = 0;
    try {
      vig = await phaseVigil(o, server, farm);
    } finally {
      bareFiles = (await farm?.stop()) ?? 0;
    }
    const bare = vig.bare;
    const out: SectionResult[] = [];
    const n = o.cameras;
    const serverInfo = `${MOUNT.width}x${MOUNT.height} ${MOUNT.pattern} ${MOUNT.fps} fps ${MOUNT.bitrateKbps} kbps, shared; one mount for Vigil, one for the bare ffmpegs`;
    if (bare) {
      const vigilPct = vig.cpu.percentOfCore;
      const mainPct = (100 * vig.mainThreadCpuSeconds) / vig.cpu.wallSeconds;
      const barePct = bare.percentOfCore;
      const rows: Row[] = [
        {
          figure: `Recording CPU, ${n} cams, ${o.segmentSeconds}-s segments (Vigil + its ffmpegs)`,
          value: fmt.pct(vigilPct),
          baseline: `${fmt.pct(barePct)} (${n} bare ffmpeg)`,
          ratio: fmt.ratio(vigilPct / barePct),
          goal: goal('≤ 1.10×', check(vigilPct / barePct, (r) => r <= 1.1)),
        },
        {
          figure: '  of which the Vigil Node process',
          value: fmt.pct(vig.own.percentOfCore),
          baseline: `${fmt.pct(vigilPct - vig.own.percentOfCore)} (its ffmpegs)`,
        },
        {
          figure: '    its main thread / its other threads (pool, V8)',
          value: `${fmt.pct(mainPct)} / ${fmt.pct(vig.own.percentOfCore - mainPct)}`,
        },
        {
          figure: `    floor: read + SHA-256 of every closed file (${vig.integrity.mbPerSecond.toFixed(2)} MB/s × ${vig.integrity.msPerMb.toFixed(2)} ms/MB)`,
          value: fmt.pct(vig.integrity.percentOfCore),
          baseline: 'with nothing else, the ratio would be',
          ratio: fmt.ratio((barePct + vig.integrity.percentOfCore) / barePct),
        },
        ...(vig.minutes.length > 0
          ? [
              {
                figure: `  minute by minute: ratio (Node % of a core)`,
                value: vig.minutes.map((m) => `${(m.vigilPct / m.barePct).toFixed(2)} (${m.nodePct.toFixed(2)})`).join(' '),
              },
            ]
          : []),
        {
          figure: `Vigil Node RSS, ${n} cams (mean / max)`,
          value: `${fmt.mib(vig.rss.meanBytes)} / ${fmt.mib(vig.rss.maxBytes)}`,
          goal: goal('max ≤ 120 MiB', check(vig.rss.maxBytes, (b) => b <= 120 * 1024 * 1024)),
        },
        {
          figure: `Fake cameras (RTSP server, 2 mounts × ${n} clients) CPU, not Vigil`,
          value: fmt.pct(vig.server.percentOfCore),
        },
      ];
      out.push({
        name: 'overhead',
        rows,
        data: {
          cameras: n,
          measuredSeconds: o.seconds,
          warmupSeconds: o.warmupSeconds,
          segmentSeconds: o.segmentSeconds,
          rtspMount: serverInfo,
          vigilEntry: o.entry.kind,
          vigilEntryNote: o.entry.note || undefined,
          method: 'the bare ffmpegs and Vigil record side by side, each from a shared mount of its own (same pattern and bit rate); both measured over the same window',
          bare: {
            cpuSeconds: bare.cpuSeconds,
            wallSeconds: bare.wallSeconds,
            percentOfCore: barePct,
            processes: bare.processes,
            segmentFilesWritten: bareFiles,
          },
          vigil: {
            cpuSeconds: vig.cpu.cpuSeconds,
            wallSeconds: vig.cpu.wallSeconds,
            percentOfCore: vigilPct,
            nodePercentOfCore: vig.own.percentOfCore,
            nodeMainThreadPercentOfCore: mainPct,
            integrityFloor: { ...vig.integrity, method: 'files closed in the window, read and hashed again by the bench (hashFile, page cache); a floor under the Node process\'s CPU (invariant 10)' },
            ffmpegPercentOfCore: vigilPct - vig.own.percentOfCore,
            minutes: vig.minutes.map((m) => ({ ...m, ratio: m.vigilPct / m.barePct })),
            processes: vig.cpu.processes,
            rssMeanBytes: vig.rss.meanBytes,
            rssMaxBytes: vig.rss.maxBytes,
            rssNote: 'VmRSS of the Node process sampled every 500 ms; the table prints MiB (2^20 bytes); the goal is read as 120 MiB',
            rssSeriesMiB: vig.rss.samples.map((b) => Math.round((b / 2 ** 20) * 10) / 10),
            catalog: vig.summary,
          },
          ratio: vigilPct / barePct,
          rtspServer: { percentOfCore: vig.server.percentOfCore, mounts: 2, clientsPerMount: n },
          goals: { ratio: 1.1, rssBytes: 120 * 1024 * 1024 },
        },
      });
    }
    if (o.latency) {
      const vis = vig.samples.map((s) => s.visibleMs);
      const idx = vig.samples.map((s) => s.indexedMs);
      out.push({
        name: 'latency',
        rows: [
          {
            figure: `Segment close → row visible, ${n} cams (p50 / p95)`,
            value: `${fmt.ms(percentile(vis, 50))} / ${fmt.ms(percentile(vis, 95))}`,
            goal: goal('p95 ≤ 1000 ms', check(percentile(vis, 95), (p) => p <= 1000)),
          },
          {
            figure: `  max, over ${vis.length} segments (${vig.summary.gaps} gaps, ${vig.summary.reconnects} reconnects)`,
            value: fmt.ms(vis.length ? Math.max(...vis) : NaN),
          },
        ],
        data: {
          cameras: n,
          segmentSeconds: o.segmentSeconds,
          method: `close = mtime of the closed file; visible = first seen by a read-only SQLite poll every ${LATENCY_POLL_MS} ms`,
          count: vis.length,
          visibleMs: { p50: percentile(vis, 50), p95: percentile(vis, 95), max: vis.length ? Math.max(...vis) : null },
          indexedAtMs: { p50: percentile(idx, 50), p95: percentile(idx, 95), max: idx.length ? Math.max(...idx) : null },
          catalog: vig.summary,
          goalP95Ms: 1000,
        },
      });
    }
    return out;
  } finally {
    await stopServer();
  }
}
