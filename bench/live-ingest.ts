/**
 * Where the always-on live output costs Node CPU and memory, measured deterministically (not a section of
 * `npm run bench`): record a noisy 720p15 2 Mbit/s camera once through the recorder's real argv and keep
 * its fd-4 bytes and the chunk sizes Node read them in, then replay them for N cameras through the live
 * path. Two replays:
 *  - direct: the recorder's onLiveData → LiveHub feed, in the captured chunk sizes, as fast as possible;
 *  - pipe:   N writer processes play the capture into fd 4 at its own pace; Node reads them through
 *            `spawnRecorder`, the pipe, the stream and the hub (what a recording Vigil does).
 * Both print Node CPU per second of stream and the memory the N channels hold. `--ffmpeg` instead runs
 * the recorder's ffmpeg with and without its live output (and variants of it) side by side on one
 * mount and prints their utime+stime from /proc.
 *
 *   node --import tsx bench/live-ingest.ts [--cameras 16] [--seconds 20] [--loops 3] [--only direct|pipe]
 *   node --import tsx bench/live-ingest.ts --ffmpeg [--seconds 60]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { RtspServer, rtspServerAvailable, type RtspMountSpec } from '../src/demo/rtsp-server.js';
import type { EventLog } from '../src/events/event-log.js';
import { LiveHub } from '../src/live/live-hub.js';
import { spawnRecorder, type RecorderProcess } from '../src/media/ffmpeg-process.js';
import { Fmp4StreamSplitter } from '../src/media/fmp4/stream.js';
import { liveOutputArgs, recorderLiveOutputArgs, type LiveOutputTuning } from '../src/media/live-args.js';
import { buildRecorderArgs, buildSegmentRecorderArgs, LIVE_FD } from '../src/media/recorder-args.js';
import { systemClock } from '../src/shared/clock.js';
import { cleanupAll, defer, tempDir } from './cleanup.js';
import { CLK_TCK, readStat, sleep } from './proc.js';

const MOUNT: RtspMountSpec = { name: 'ingest', pattern: 'snow', width: 1280, height: 720, fps: 15, bitrateKbps: 2000, shared: true, seek: false };

const { values: opt } = parseArgs({
  options: {
    cameras: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '20' },
    loops: { type: 'string', default: '3' },
    only: { type: 'string' },
    capture: { type: 'string', default: join(tmpdir(), 'vigil-live-ingest') },
    recapture: { type: 'boolean', default: false },
    ffmpeg: { type: 'boolean', default: false },
    /** Write a CPU profile (.cpuprofile, for Chrome DevTools) of the measured window only. */
    profile: { type: 'string' },
    /** Pipe replay without the hub: what reading the pipes alone costs. */
    drain: { type: 'boolean', default: false },
    /** --ffmpeg: comma-separated names of FFMPEG_VARIANTS, and how many ffmpegs of each. */
    variants: { type: 'string' },
    copies: { type: 'string', default: '2' },
  },
});

interface Capture {
  bytes: Buffer;
  /** Sizes of the chunks Node's pipe stream delivered, and when (ms after the first). */
  chunks: Array<{ atMs: number; size: number }>;
  /** Media seconds in the capture (sum of fragment durations). */
  streamSeconds: number;
}

const MiB = 2 ** 20;
const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;

async function withServer<T>(fn: (server: RtspServer) => Promise<T>): Promise<T> {
  const avail = await rtspServerAvailable();
  if (!avail.ok) throw new Error(`RTSP server unavailable: ${avail.reason}`);
  const server = await RtspServer.start({ mounts: [MOUNT] });
  const stop = defer('RTSP server', () => server.stop());
  try {
    return await fn(server);
  } finally {
    await stop();
  }
}

/** Records `seconds` of the mount with the recorder's argv and keeps fd 4 as Node read it. */
async function capture(seconds: number): Promise<Capture> {
  return withServer(async (server) => {
    const dir = await tempDir('vigil-live-ingest-');
    const parts: Buffer[] = [];
    const chunks: Capture['chunks'] = [];
    let t0: number | undefined;
    const args = buildRecorderArgs({ url: server.url(MOUNT.name), outputDir: dir.path, segmentSeconds: 10, socketTimeoutSeconds: 10, fileNamePattern: 'ingest-%06d.mp4' });
    const proc = spawnRecorder('ffmpeg', args, {
      onSegment: () => undefined,
      onProgress: () => undefined,
      onLiveData: (chunk) => {
        const now = performance.now();
        t0 ??= now;
        parts.push(chunk);
        chunks.push({ atMs: Math.round((now - t0) * 10) / 10, size: chunk.length });
      },
    }, Date.now);
    while (t0 === undefined || performance.now() - t0 < seconds * 1000) await sleep(100);
    await proc.stop(5000);
    await dir.remove();
    const bytes = Buffer.concat(parts);
    const splitter = new Fmp4StreamSplitter();
    let streamSeconds = 0;
    for (const c of splitter.push(bytes)) if (c.kind === 'fragment') streamSeconds += c.fragment.durationSeconds;
    return { bytes, chunks, streamSeconds };
  });
}

function loadCapture(seconds: number): Promise<Capture> | Capture {
  const bin = `${opt.capture}.bin`;
  const meta = `${opt.capture}.json`;
  if (!opt.recapture && existsSync(bin) && existsSync(meta)) {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as Omit<Capture, 'bytes'>;
    return { ...m, bytes: readFileSync(bin) };
  }
  return capture(seconds).then((c) => {
    writeFileSync(bin, c.bytes);
    writeFileSync(meta, JSON.stringify({ chunks: c.chunks, streamSeconds: c.streamSeconds }));
    return c;
  });
}

function newHub(): LiveHub {
  // open() (what the recorder calls) touches neither the event bus nor the catalog.
  const events = { subscribe: () => () => undefined } as unknown as EventLog;
  return new LiveHub({ clock: systemClock, log: pino({ level: 'warn' }), events, lookup: () => Promise.resolve(undefined), ffmpegPath: 'ffmpeg', rtspTimeoutSeconds: 10 });
}

function memory(label: string): void {
  globalThis.gc?.();
  const m = process.memoryUsage();
  console.log(`  ${label}: rss ${mib(m.rss)}, heapUsed ${mib(m.heapUsed)}, external ${mib(m.external)}, arrayBuffers ${mib(m.arrayBuffers)}`);
}

/** Profiles what runs between start() and stop() when --profile is given. */
async function profiler(suffix: string): Promise<{ stop: () => Promise<void> }> {
  if (!opt.profile) return { stop: () => Promise.resolve() };
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return {
    stop: async () => {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(`${opt.profile}-${suffix}.cpuprofile`, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/** The recorder's onLiveData → hub feed, chunk by chunk as the pipe gave them, cameras interleaved. */
async function replayDirect(c: Capture, cameras: number, loops: number): Promise<void> {
  const hub = newHub();
  const feeds = Array.from({ length: cameras }, (_, i) => hub.open(`cam${i}`));
  let off = 0;
  const slices = c.chunks.map(({ size }) => {
    const s = c.bytes.subarray(off, off + size);
    off += size;
    return s;
  });
  const pushAll = () => {
    for (const s of slices) {
      // Each pipe read gives its own buffer, never reused; the capture's slices are never written either.
      for (const f of feeds) f.push(s);
    }
  };
  pushAll(); // warm-up (JIT), and every channel holds a GOP from here on
  const prof = await profiler('direct');
  const before = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < loops; i++) {
    // Each loop is a new run of every camera (the capture starts with its init).
    for (const f of feeds) f.end();
    feeds.splice(0, feeds.length, ...Array.from({ length: cameras }, (_, k) => hub.open(`cam${k}`)));
    pushAll();
  }
  const cpu = process.cpuUsage(before);
  await prof.stop();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const streamSeconds = c.streamSeconds * loops;
  console.log(
    `direct: ${cameras} cams × ${loops} × ${c.streamSeconds.toFixed(1)} s in ${(performance.now() - t0).toFixed(0)} ms wall; ` +
      `${cpuMs.toFixed(1)} ms CPU = ${((cpuMs / streamSeconds) * 0.1).toFixed(2)} % core for ${cameras} cams ` +
      `(${((cpuMs * 1000) / streamSeconds / cameras).toFixed(0)} µs per camera-second)`,
  );
  memory(`after direct, ${cameras} channels`);
}

/** N processes play the capture into fd 4 at its pace; Node reads it through the recorder's own reader. */
async function replayPipe(c: Capture, cameras: number): Promise<void> {
  const hub = newHub();
  const procs: RecorderProcess[] = [];
  // Every writer starts on the same instant, whenever its interpreter came up.
  const startAtMs = Date.now() + 2000;
  let firstByte: number | undefined;
  for (let i = 0; i < cameras; i++) {
    const feed = hub.open(`cam${i}`);
    const proc = spawnRecorder('/usr/bin/python3', ['-c', WRITER_PY, String(opt.capture), String(startAtMs)], {
      onSegment: () => undefined,
      onProgress: () => undefined,
      onLiveData: (chunk) => {
        firstByte ??= performance.now();
        if (!opt.drain) feed.push(chunk);
      },
    }, Date.now);
    procs.push(proc);
    void proc.exited.then(() => feed.end());
  }
  while (firstByte === undefined) await sleep(5);
  // Measured from the first byte: the writers' start-up is not Node's live path.
  const prof = await profiler('pipe');
  const before = process.cpuUsage();
  const t0 = performance.now();
  let peak = process.memoryUsage();
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    if (m.rss > peak.rss) peak = m;
  }, 500);
  const exits = await Promise.all(procs.map((p) => p.exited));
  clearInterval(sampler);
  const cpu = process.cpuUsage(before);
  await prof.stop();
  const wallS = (performance.now() - t0) / 1000;
  const failed = exits.filter((e) => e.code !== 0);
  if (failed.length > 0) throw new Error(`writer failed: ${JSON.stringify(failed[0])}`);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(
    `pipe${opt.drain ? ' (drain only)' : ''}: ${cameras} cams × ${c.streamSeconds.toFixed(1)} s of stream over ${wallS.toFixed(1)} s wall; ${cpuMs.toFixed(0)} ms CPU ` +
      `(user ${(cpu.user / 1000).toFixed(0)}, system ${(cpu.system / 1000).toFixed(0)}) = ${((cpuMs / wallS) * 0.1).toFixed(2)} % core ` +
      `(${((cpuMs * 1000) / c.streamSeconds / cameras).toFixed(0)} µs per camera-second)`,
  );
  console.log(`  peak rss during replay ${mib(peak.rss)} (heapUsed ${mib(peak.heapUsed)}, arrayBuffers ${mib(peak.arrayBuffers)})`);
  memory(`after pipe, ${cameras} channels`);
}

/** Writer process: plays the capture into fd 4 at the pace Node read it in (Python: a light, fast-starting process). */
const WRITER_PY = `
import json, os, sys, time
base, start_at = sys.argv[1], float(sys.argv[2]) / 1000
chunks = json.load(open(base + '.json'))['chunks']
data = memoryview(open(base + '.bin', 'rb').read())
time.sleep(max(0, start_at - time.time()))
t0 = time.monotonic()
off = 0
for c in chunks:
    wait = t0 + c['atMs'] / 1000 - time.monotonic()
    if wait > 0.001:
        time.sleep(wait)
    end = off + c['size']
    while off < end:
        off += os.write(4, data[off:end])
`;

/** The recorder's live output variants compared by --ffmpeg (name → tuning; `bare` has no live output). */
const FFMPEG_VARIANTS: Record<string, LiveOutputTuning | null | 'plain'> = {
  bare: null,
  /** The same fMP4 as a plain second output, without the fifo (it could block the recording: measured only). */
  plain: 'plain',
  current: { fragmentUs: 200_000, flushPackets: true },
  'no-flush': { fragmentUs: 200_000, flushPackets: false },
  'frag-500': { fragmentUs: 500_000, flushPackets: true },
  'frag-1000': { fragmentUs: 1_000_000, flushPackets: true },
  'queue-30': { fragmentUs: 200_000, flushPackets: true, queuePackets: 30 },
};

/** ffmpeg CPU (utime+stime) of the recorder without, with, and with variants of its live output, side by side. */
async function ffmpegCpu(seconds: number): Promise<void> {
  const names = (opt.variants ?? Object.keys(FFMPEG_VARIANTS).join(',')).split(',');
  await withServer(async (server) => {
    const root = await tempDir('vigil-live-ffmpeg-');
    const runs = names.flatMap((name) => {
      const tuning = FFMPEG_VARIANTS[name];
      if (tuning === undefined) throw new Error(`unknown variant ${name}`);
      return Array.from({ length: Number(opt.copies) }, (_, copy) => {
        const dir = join(root.path, `${name}-${copy}`);
        mkdirSync(dir);
        const rec = { url: server.url(MOUNT.name), outputDir: dir, segmentSeconds: 10, socketTimeoutSeconds: 10, fileNamePattern: 'x-%06d.mp4' };
        const live = tuning === null ? [] : tuning === 'plain' ? liveOutputArgs(`pipe:${LIVE_FD}`) : recorderLiveOutputArgs(`pipe:${LIVE_FD}`, tuning);
        const argv = [...buildSegmentRecorderArgs(rec), ...live];
        const r = { name, bytes: 0, chunks: 0, proc: undefined as unknown as RecorderProcess };
        r.proc = spawnRecorder('ffmpeg', argv, {
          onSegment: () => undefined,
          onProgress: () => undefined,
          onLiveData: (chunk) => {
            r.bytes += chunk.length;
            r.chunks++;
          },
        }, Date.now);
        return r;
      });
    });
    await sleep(5000); // connected and past the first keyframe
    const a = runs.map((r) => ({ ticks: readStat(r.proc.pid)?.ticks ?? NaN, chunks: r.chunks, bytes: r.bytes }));
    await sleep(seconds * 1000);
    const b = runs.map((r) => ({ ticks: readStat(r.proc.pid)?.ticks ?? NaN, chunks: r.chunks, bytes: r.bytes }));
    await Promise.all(runs.map((r) => r.proc.stop(5000)));
    await root.remove();
    for (const name of names) {
      const idx = runs.flatMap((r, i) => (r.name === name ? [i] : []));
      const sum = (f: (i: number) => number) => idx.reduce((s, i) => s + f(i), 0) / idx.length;
      const cpuS = sum((i) => ((b[i]?.ticks ?? NaN) - (a[i]?.ticks ?? NaN)) / CLK_TCK);
      const chunks = sum((i) => (b[i]?.chunks ?? 0) - (a[i]?.chunks ?? 0));
      const bytes = sum((i) => (b[i]?.bytes ?? 0) - (a[i]?.bytes ?? 0));
      console.log(
        `ffmpeg ${name.padEnd(10)} ${cpuS.toFixed(2)} s CPU over ${seconds} s = ${((cpuS / seconds) * 100).toFixed(2)} % core (mean of ${idx.length}); ` +
          `live: ${(chunks / seconds).toFixed(1)} reads/s, ${((bytes * 8) / seconds / 1e6).toFixed(2)} Mbit/s`,
      );
    }
  });
}

async function main(): Promise<void> {
  const seconds = Number(opt.seconds);
  if (opt.ffmpeg) return ffmpegCpu(seconds);
  const cameras = Number(opt.cameras);
  const c = await loadCapture(seconds);
  console.log(
    `capture: ${mib(c.bytes.length)} in ${c.chunks.length} chunks (mean ${(c.bytes.length / c.chunks.length / 1024).toFixed(1)} KiB, ` +
      `max ${(Math.max(...c.chunks.map((x) => x.size)) / 1024).toFixed(1)} KiB), ${c.streamSeconds.toFixed(1)} s of stream, ` +
      `${((c.bytes.length * 8) / c.streamSeconds / 1e6).toFixed(2)} Mbit/s`,
  );
  memory('before');
  if (opt.only !== 'pipe') await replayDirect(c, cameras, Number(opt.loops));
  if (opt.only !== 'direct') await replayPipe(c, cameras);
}

main()
  .catch((err: unknown) => {
    process.exitCode = 1;
    console.error(err);
  })
  .finally(() => cleanupAll());
