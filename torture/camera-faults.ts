/**
 * Camera fault storm: the camera (a real RTSP server on a fixed port) is killed, stalled (SIGSTOP),
 * answers 404, rejects the credentials, or is replaced by something that sends garbage — in turn,
 * cycle after cycle — and comes back healthy each time. Promises: Vigil shows each fault as a clear
 * state and event and records again once the camera is back; no zombie or orphan ffmpeg, never more
 * than one recorder per camera; open file descriptors flat, and live memory (JS heap and buffers after
 * a full collection) flat once every fault has run once (RSS is reported); `reconnect_count` equal to the
 * recorder exits the event log reports, and at least the number of recorder processes seen to end.
 */
import { readdir } from 'node:fs/promises';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { RtspServer } from '../src/demo/rtsp-server.js';
import { sleep } from '../src/shared/sleep.js';
import { readCatalog } from '../test/support/footage.js';
import { ffmpegPidsFor, removeDir, startVigil, waitFor, zombieChildren, type TestVigil } from '../test/support/harness.js';
import type { StormOptions, StormResult } from './storm.js';

type Fault = 'killed' | 'stalled' | '404' | 'credentials' | 'garbage';
const FAULTS: Fault[] = ['killed', 'stalled', '404', 'credentials', 'garbage'];
/** What `last_error` must mention for each fault (ffmpeg's own words). */
const EXPECTED_ERROR: Record<Fault, RegExp> = {
  killed: /refused|ended the stream|end of file|reset|timed out|Broken pipe|I\/O error/i,
  stalled: /timed out|timeout|no new segment|stopped sending video|sent no video/i,
  '404': /404|Not Found/i,
  credentials: /401|Unauthorized/i,
  garbage: /Invalid data|invalid|could not|unsupported|error/i,
};

export interface CameraFaultOptions extends StormOptions {
  cycles?: number;
}

/** V8's collector, reachable without starting node with --expose-gc. */
function collector(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** Memory that is still reachable: the JS heap and external buffers after two full collections. */
function liveMemory(gc: () => void): { live: number; rss: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { live: m.heapUsed + m.external, rss: m.rss };
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

async function openFds(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

export async function runCameraFaults(o: CameraFaultOptions): Promise<StormResult> {
  const cycles = o.cycles ?? (o.size === 'full' ? 1000 : 20);
  const violations: string[] = [];
  const seenPids = new Set<number>();
  let maxConcurrent = 0;
  let server: RtspServer | undefined;
  let garbage: net.Server | undefined;
  let vigil: TestVigil | undefined;
  let polling = true;
  const perFault = new Map<Fault, { n: number; errors: Set<string> }>();
  try {
    const healthy = (port: number) => RtspServer.start({ port, mounts: [{ name: 'cam1' }] });
    server = await healthy(0);
    const port = new URL(server.url('cam1')).port;
    vigil = await startVigil({
      cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }],
      recorder: { rtsp_timeout_seconds: 2, backoff_initial_ms: 200, backoff_max_ms: 800, healthy_run_seconds: 1 },
      // The storm polls the API 20 times a second: a log kept whole would grow by ~25 KB a cycle.
      logTailBytes: 256 * 1024,
    });
    const v = vigil;
    const status = async () => (await (await v.api('/cameras/cam1/status')).json()) as { state: string; last_error: string | null; reconnect_count: number };
    const recording = () => waitFor('recording', async () => (await status()).state === 'recording' && (await ffmpegPidsFor(v.dataDir)).length === 1, 30_000);
    await recording();
    await waitFor('a first segment', () => readCatalog(v.dataDir).segments.length >= 1, 20_000);

    // Every 100 ms: which recorders run (a recorder per camera at most, ever).
    const poller = (async () => {
      while (polling) {
        const pids = await ffmpegPidsFor(v.dataDir);
        for (const p of pids) seenPids.add(p);
        maxConcurrent = Math.max(maxConcurrent, pids.length);
        await sleep(100);
      }
    })();

    const fdStart = await openFds();
    const gc = collector();
    const memStart = liveMemory(gc);
    /** Taken after the first round of every fault: code compiled and caches filled by then. */
    let memWarm = memStart;
    o.log(`camera faults: ${cycles} cycles on port ${port}`);
    for (let cycle = 0; cycle < cycles; cycle++) {
      const fault = FAULTS[cycle % FAULTS.length] as Fault;
      const before = await status();
      const p = Number(port);
      switch (fault) {
        case 'killed':
          await server.kill();
          break;
        case 'stalled':
          server.pause();
          break;
        case '404':
          await server.stop();
          server = await RtspServer.start({ port: p, mounts: [{ name: 'elsewhere' }] });
          break;
        case 'credentials':
          await server.stop();
          server = await RtspServer.start({ port: p, mounts: [{ name: 'cam1' }], auth: { user: 'admin', pass: 'not-what-vigil-has' } });
          break;
        case 'garbage': {
          await server.stop();
          const g = net.createServer((sock) => {
            sock.on('error', () => undefined);
            sock.write(Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n\u0000\u00ff\u00fegarbage\r\n\r\n'));
            const t = setInterval(() => sock.write(Buffer.from(Array.from({ length: 512 }, () => Math.floor(Math.random() * 256)))), 50);
            sock.on('close', () => clearInterval(t));
          });
          await new Promise<void>((res, rej) => g.once('error', rej).listen(p, '127.0.0.1', () => res()));
          garbage = g;
          break;
        }
      }
      let seen: { state: string; last_error: string | null; reconnect_count: number };
      try {
        // Taking the healthy server away is itself a first failure; the fault shows on the attempts after it.
        seen = await waitFor(`${fault}: a failed recorder saying why`, async () => {
          const s = await status();
          return s.state !== 'recording' && s.reconnect_count > before.reconnect_count && EXPECTED_ERROR[fault].test(s.last_error ?? '') ? s : undefined;
        }, 20_000, 50);
        if (!['offline', 'error'].includes(seen.state)) violations.push(`cycle ${cycle} ${fault}: state ${seen.state}`);
        if (!seen.last_error || !EXPECTED_ERROR[fault].test(seen.last_error)) violations.push(`cycle ${cycle} ${fault}: last_error does not say so: ${seen.last_error ?? 'null'}`);
        const entry = perFault.get(fault) ?? { n: 0, errors: new Set<string>() };
        entry.n++;
        entry.errors.add((seen.last_error ?? '').split('\n').find((l) => EXPECTED_ERROR[fault].test(l))?.slice(0, 80) ?? (seen.last_error ?? '').slice(0, 80));
        perFault.set(fault, entry);
      } catch (err) {
        violations.push(`cycle ${cycle} ${fault}: ${String(err)}`);
      }
      // The camera comes back.
      if (fault === 'stalled') {
        server.resume();
      } else if (fault === 'garbage') {
        await new Promise<void>((res) => garbage?.close(() => res()));
        garbage = undefined;
        server = await healthy(p);
      } else {
        await server.stop();
        server = await healthy(p);
      }
      try {
        await recording();
      } catch (err) {
        violations.push(`cycle ${cycle} ${fault}: did not record again: ${String(err)}`);
      }
      if (cycle === FAULTS.length - 1) memWarm = liveMemory(gc);
      if (cycle % 10 === 9) {
        const m = liveMemory(gc);
        o.log(`camera faults: ${cycle + 1}/${cycles}, live memory ${mib(m.live)} MiB, RSS ${mib(m.rss)} MiB`);
      }
    }
    polling = false;
    await poller;
    await sleep(500);
    const fdEnd = await openFds();
    const memEnd = liveMemory(gc);
    const final = await status();
    const events = readCatalog(v.dataDir).events.filter((e) => e.camera_id === 'cam1');
    const exits = events.filter((e) => e.type === 'recorder_exited' || e.type === 'recorder_stalled' || e.type === 'camera_silent').length;
    const ended = seenPids.size - 1; // the one recording now has not ended
    if (final.reconnect_count !== exits) violations.push(`reconnect_count ${final.reconnect_count} ≠ ${exits} recorder exits in the event log`);
    if (final.reconnect_count < ended) violations.push(`reconnect_count ${final.reconnect_count} < ${ended} recorder processes seen to end`);
    if (maxConcurrent > 1) violations.push(`${maxConcurrent} recorders ran at once for one camera`);
    const z = (await zombieChildren()).length;
    if (z > 0) violations.push(`${z} zombie children`);
    if (fdEnd - fdStart > 20) violations.push(`open file descriptors grew from ${fdStart} to ${fdEnd}`);
    // A leak is memory still reachable after a full collection that grows with the cycles. RSS is
    // reported, not judged: freed memory that V8 and malloc keep mapped for reuse shows in it too.
    const grownMiB = (memEnd.live - memWarm.live) / 2 ** 20;
    const leakBudgetMiB = cycles >= 200 ? 32 : 8;
    if (cycles > FAULTS.length && grownMiB > leakBudgetMiB) {
      violations.push(`live memory grew by ${grownMiB.toFixed(1)} MiB over ${cycles - FAULTS.length} cycles (budget ${leakBudgetMiB} MiB)`);
    }
    await v.app.stop();
    const left = await ffmpegPidsFor(v.dataDir);
    if (left.length > 0) violations.push(`ffmpeg left after stop: ${left.join(', ')}`);
    vigil = undefined;
    await removeDir(v.dataDir);
    return {
      name: 'camera fault storm',
      summary: [
        ['cycles', `${cycles} (${FAULTS.join(', ')} in turn)`],
        ...[...perFault].map(([f, e]) => [`  ${f}`, `${e.n}× — ${[...e.errors].slice(0, 2).join(' | ')}`] as [string, string]),
        ['reconnect_count', `${final.reconnect_count} (exit events ${exits}; recorder processes ended ≥ ${ended})`],
        ['recorders at once (max)', String(maxConcurrent)],
        ['zombies / ffmpeg after stop', `${z} / ${left.length}`],
        ['open fds start → end', `${fdStart} → ${fdEnd}`],
        ['live memory after GC', `${mib(memStart.live)} → ${mib(memWarm.live)} (cycle ${FAULTS.length}) → ${mib(memEnd.live)} MiB (${(((memEnd.live - memWarm.live) / 1024) / Math.max(1, cycles - FAULTS.length)).toFixed(1)} KiB a cycle after the first round)`],
        ['RSS start → end', `${mib(memStart.rss)} → ${mib(memEnd.rss)} MiB (the test process, Vigil in it; not judged)`],
      ],
      violations,
    };
  } finally {
    polling = false;
    await new Promise<void>((res) => (garbage ? garbage.close(() => res()) : res()));
    if (vigil) {
      await vigil.app.stop().catch(() => undefined);
      await removeDir(vigil.dataDir);
    }
    await server?.stop();
  }
}
