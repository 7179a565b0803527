/**
 * Camera fault storm: the camera (a real RTSP server on a fixed port) is killed, stalled (SIGSTOP),
 * answers 404, rejects the credentials, or is replaced by something that sends garbage — in turn,
 * cycle after cycle — and comes back healthy each time. Promises: Vigil shows each fault as a clear
 * state and event and records again once the camera is back; no zombie or orphan ffmpeg, never more
 * than one recorder per camera; open file descriptors and memory flat; `reconnect_count` equal to the
 * recorder exits the event log reports, and at least the number of recorder processes seen to end.
 */
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import { RtspServer } from '../src/demo/rtsp-server.js';
import { sleep } from '../src/shared/sleep.js';
import { readCatalog } from '../test/support/footage.js';
import { ffmpegPidsFor, removeDir, startVigil, waitFor, type TestVigil } from '../test/support/harness.js';
import type { StormOptions, StormResult } from './storm.js';

type Fault = 'killed' | 'stalled' | '404' | 'credentials' | 'garbage';
const FAULTS: Fault[] = ['killed', 'stalled', '404', 'credentials', 'garbage'];
/** What `last_error` must mention for each fault (ffmpeg's own words). */
const EXPECTED_ERROR: Record<Fault, RegExp> = {
  killed: /refused|ended the stream|end of file|reset|timed out|Broken pipe|I\/O error/i,
  stalled: /timed out|timeout|no new segment/i,
  '404': /404|Not Found/i,
  credentials: /401|Unauthorized/i,
  garbage: /Invalid data|invalid|could not|unsupported|error/i,
};

export interface CameraFaultOptions extends StormOptions {
  cycles?: number;
}

async function zombies(): Promise<number> {
  let n = 0;
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const m = /\) (\S) (\d+) /.exec(await readFile(`/proc/${e}/stat`, 'utf8').catch(() => ''));
    if (m && m[1] === 'Z' && Number(m[2]) === process.pid) n++;
  }
  return n;
}

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
    const rssStart = process.memoryUsage().rss;
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
      if (cycle % 10 === 9) o.log(`camera faults: ${cycle + 1}/${cycles}`);
    }
    polling = false;
    await poller;
    await sleep(500);
    const fdEnd = await openFds();
    const rssEnd = process.memoryUsage().rss;
    const final = await status();
    const events = readCatalog(v.dataDir).events.filter((e) => e.camera_id === 'cam1');
    const exits = events.filter((e) => e.type === 'recorder_exited' || e.type === 'recorder_stalled').length;
    const ended = seenPids.size - 1; // the one recording now has not ended
    if (final.reconnect_count !== exits) violations.push(`reconnect_count ${final.reconnect_count} ≠ ${exits} recorder exits in the event log`);
    if (final.reconnect_count < ended) violations.push(`reconnect_count ${final.reconnect_count} < ${ended} recorder processes seen to end`);
    if (maxConcurrent > 1) violations.push(`${maxConcurrent} recorders ran at once for one camera`);
    const z = await zombies();
    if (z > 0) violations.push(`${z} zombie children`);
    if (fdEnd - fdStart > 20) violations.push(`open file descriptors grew from ${fdStart} to ${fdEnd}`);
    const growMiB = (rssEnd - rssStart) / 2 ** 20;
    if (growMiB > (o.size === 'full' ? 100 : 60)) violations.push(`memory grew by ${growMiB.toFixed(0)} MiB`);
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
        ['RSS start → end', `${(rssStart / 2 ** 20).toFixed(0)} → ${(rssEnd / 2 ** 20).toFixed(0)} MiB (the test process, Vigil in it)`],
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
