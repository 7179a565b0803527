import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer, type RtspMountSpec } from '../../src/demo/rtsp-server.js';
import { QUICK_PROBE_FAILED } from '../../src/media/ffmpeg-common-args.js';
import { sleep } from '../../src/shared/sleep.js';
import { checkConsistency, readCatalog, type SegRow } from '../support/footage.js';
import { ffmpegPidsFor, removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';

/**
 * A camera whose SDP lacks its H.264 parameters (sprop-parameter-sets), joined mid-GOP while another
 * client keeps its stream running: the recorder's quick probe cannot learn the picture size from the
 * first packet, and the recorder falls back at once, for good, to ffmpeg's full stream analysis.
 */
const FPS = 15;
/** Long enough that a join lands mid-GOP, short enough that the full analysis (5 s) reaches a keyframe. */
const GOP_MS = 4_000;
const MOUNTS: RtspMountSpec[] = [
  { name: 'nosprop', fps: FPS, gop: (GOP_MS / 1000) * FPS, sprop: false },
  { name: 'control', fps: FPS },
];
const FALLBACK_REASON = /SDP lacks the stream's parameters.*full stream analysis/;

type EventJson = { type: string; camera_id: string | null; payload: Record<string, unknown> };

/** Another client of the camera (a second recorder, a VMS) that keeps its shared stream running. */
function attachViewer(url: string): { stop: () => Promise<void> } {
  const child = spawn('ffmpeg', ['-nostdin', '-v', 'error', '-rtsp_transport', 'tcp', '-i', url, '-c', 'copy', '-f', 'null', '-'], { stdio: 'ignore' });
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  return {
    stop: async () => {
      child.kill('SIGKILL');
      await closed;
    },
  };
}

/** Sleeps until `intoGopMs` into the next GOP of a media whose keyframes come every GOP_MS from `keyframeMs`. */
async function untilMidGop(keyframeMs: number, intoGopMs: number): Promise<void> {
  const now = Date.now();
  await sleep(Math.max(0, keyframeMs + Math.ceil((now - keyframeMs - intoGopMs) / GOP_MS) * GOP_MS + intoGopMs - now));
}

/** The argv of the ffmpeg Vigil runs for each camera now (by the mount its URL names). */
async function recorderArgv(dataDir: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const pid of await ffmpegPidsFor(dataDir)) {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const mount = MOUNTS.find((m) => argv.some((a) => a.endsWith(`/${m.name}`)));
    if (mount) out.set(mount.name, argv);
  }
  return out;
}

describe('a camera whose SDP lacks sprop-parameter-sets, joined mid-GOP', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  const viewers: Array<{ stop: () => Promise<void> }> = [];
  let argvFirst: Map<string, string[]>;
  let argvAfterReconnect: Map<string, string[]>;
  let events: EventJson[];
  let killedAt = 0;
  let restartedAt = 0;

  const segmentsOf = (cam: string): SegRow[] => readCatalog(vigil.dataDir).segments.filter((s) => s.camera_id === cam);

  beforeAll(async () => {
    const t0 = Date.now();
    server = await RtspServer.start({ mounts: MOUNTS });
    const port = server.port;
    viewers.push(attachViewer(server.url('nosprop')));
    vigil = await startVigil({
      // The video-only quick probe (-probesize 32) and its fallback: audio off. With audio (auto) the
      // probe reads until every stream is described, and a mid-GOP join then waits for the keyframe.
      cameras: [{ id: 'control', main_url: server.url('control'), segment_seconds: 2, audio: 'off' }],
      // Slower than the camera's restart below, so the reconnect joins the viewer's running stream.
      recorder: { backoff_initial_ms: 3_000, backoff_max_ms: 6_000 },
    });
    // The camera is added once Vigil runs, a second into a GOP: how long Vigil takes to start (seconds
    // on a loaded CI machine) cannot move the join onto a keyframe, where the quick probe would succeed.
    await untilMidGop(await server.waitForFirstKeyframe('nosprop', { after: t0 }), 1_000);
    const added = await vigil.api('/cameras', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'nosprop', main_url: server.url('nosprop'), segment_seconds: 2, audio: 'off' }),
    });
    expect(added.status, await added.clone().text()).toBe(201);
    await waitFor('4 segments of each camera', () => segmentsOf('nosprop').length >= 4 && segmentsOf('control').length >= 4, 45_000);
    argvFirst = await recorderArgv(vigil.dataDir);

    // The camera reboots: the recorder reconnects to the same address, the viewer back before it.
    killedAt = Date.now();
    await server.kill();
    server = await RtspServer.start({ port, mounts: MOUNTS });
    restartedAt = Date.now();
    viewers.push(attachViewer(server.url('nosprop')));
    await waitFor(
      '3 segments of each camera after the restart',
      () => segmentsOf('nosprop').filter((s) => s.start_ms >= restartedAt).length >= 3 && segmentsOf('control').filter((s) => s.start_ms >= restartedAt).length >= 3,
      45_000,
    );
    argvAfterReconnect = await recorderArgv(vigil.dataDir);
    events = ((await (await vigil.api('/events?limit=500')).json()) as { events: EventJson[] }).events;
    await vigil.app.stop();
  }, 150_000);

  afterAll(async () => {
    await Promise.all(viewers.map((v) => v.stop()));
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('starts with the quick probe, falls back once with a reason saying so, and records with the full analysis', () => {
    const fallbacks = events.filter((e) => e.camera_id === 'nosprop' && e.type === 'recorder_exited' && FALLBACK_REASON.test(String(e.payload['reason'])));
    expect(fallbacks, JSON.stringify(events.filter((e) => e.camera_id === 'nosprop'))).toHaveLength(1);
    const [fallback] = fallbacks as [EventJson];
    // What ffmpeg said is the quick probe's failure, and the retry came at once, not after the backoff.
    expect(String(fallback.payload['stderr_tail'])).toMatch(QUICK_PROBE_FAILED);
    expect(fallback.payload['restart_in_ms']).toBe(0);
    expect(argvFirst.get('nosprop')).toBeDefined();
    expect(argvFirst.get('nosprop')).not.toContain('-probesize');
  });

  it('does not fall back again on its next reconnect: the same recorder keeps the full analysis', () => {
    expect(argvAfterReconnect.get('nosprop')).toBeDefined();
    expect(argvAfterReconnect.get('nosprop')).not.toContain('-probesize');
    // The reboot ended a run (the camera closed the stream); no second quick probe failed after it.
    const exits = events.filter((e) => e.camera_id === 'nosprop' && e.type === 'recorder_exited');
    expect(exits.filter((e) => FALLBACK_REASON.test(String(e.payload['reason'])))).toHaveLength(1);
    expect(exits.length).toBeGreaterThanOrEqual(2);
    // The reconnect joined the viewer's running stream (one media since the restart), mid-GOP.
    expect(server.firstKeyframe('nosprop').filter((t) => t >= restartedAt - 100)).toHaveLength(1);
  });

  it('a control camera with sprop records with the quick probe and never falls back', () => {
    for (const argv of [argvFirst, argvAfterReconnect]) expect(argv.get('control')).toContain('-probesize');
    const exits = events.filter((e) => e.camera_id === 'control' && e.type === 'recorder_exited');
    expect(exits.some((e) => FALLBACK_REASON.test(String(e.payload['reason'])))).toBe(false);
    expect(events.some((e) => e.camera_id === 'control' && e.type === 'recording_started')).toBe(true);
  });

  it('writes and indexes every segment, contiguous but for the reboot', async () => {
    expect(await checkConsistency(vigil.dataDir)).toEqual([]);
    for (const cam of ['nosprop', 'control']) {
      const rows = segmentsOf(cam);
      expect(rows.length).toBeGreaterThanOrEqual(7);
      expect(rows.every((s) => s.size_bytes > 0 && s.source === 'live')).toBe(true);
      const breaks = rows.slice(1).filter((s, i) => s.start_ms !== (rows[i] as SegRow).end_ms);
      const why = events.filter((e) => e.camera_id === cam && e.type === 'recorder_exited').map((e) => e.payload['reason']);
      expect(breaks.length, `${cam}: rows ${JSON.stringify(rows.map((r) => [r.start_ms, r.end_ms]))}, runs ended: ${JSON.stringify(why)}`).toBeLessThanOrEqual(1);
      for (const b of breaks) expect(b.start_ms).toBeGreaterThanOrEqual(killedAt);
      const { status } = readCatalog(vigil.dataDir);
      expect(status.find((s) => s.camera_id === cam)?.['segments_written']).toBe(rows.length);
    }
  });
});
