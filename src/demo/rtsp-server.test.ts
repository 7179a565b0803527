import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUICK_PROBE_ARGS, QUICK_PROBE_FAILED, rtspInputArgs } from '../media/ffmpeg-common-args.js';
import { sleep } from '../shared/sleep.js';
import {
  formatDahuaTime,
  formatHikvisionTime,
  mountSpecArg,
  RtspServer,
  rtspServerAvailable,
  scriptPath,
} from './rtsp-server.js';

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command (argv, no shell), kills it after timeoutMs, always waits for it to be reaped. */
function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const FAST_PROBE = ['-v', 'error', '-rtsp_transport', 'tcp', '-analyzeduration', '1000000'];

async function probeStreams(url: string, extra: string[] = []): Promise<RunResult & { streams: any[] }> {
  const r = await run('ffprobe', [...FAST_PROBE, ...extra, '-show_streams', '-of', 'json', url]);
  let streams: any[] = [];
  if (r.code === 0) streams = (JSON.parse(r.stdout) as { streams?: any[] }).streams ?? [];
  return { ...r, streams };
}

async function probeFile(file: string): Promise<{ duration: number; size: number; codec: string }> {
  const r = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration,size:stream=codec_name', '-of', 'json', file]);
  expect(r.code, r.stderr).toBe(0);
  const j = JSON.parse(r.stdout) as { format: { duration: string; size: string }; streams: { codec_name: string }[] };
  return { duration: Number(j.format.duration), size: Number(j.format.size), codec: j.streams[0]?.codec_name ?? '' };
}

function record(url: string, out: string, seconds: number): Promise<RunResult> {
  return run(
    'ffmpeg',
    ['-nostdin', '-v', 'error', '-rtsp_transport', 'tcp', '-i', url, '-c', 'copy', '-t', String(seconds), '-y', out],
    (seconds + 15) * 1000,
  );
}

const availability = await rtspServerAvailable();
if (!availability.ok) console.warn(`skipping RTSP server tests: ${availability.reason}`);

describe('mountSpecArg / scriptPath', () => {
  it('builds the SPEC the script parses', () => {
    expect(mountSpecArg({ name: '/cam1' })).toBe('cam1');
    expect(
      mountSpecArg({ name: 'cam2', width: 1280, height: 720, fps: 15, bitrateKbps: 2000, pattern: 'snow', gop: 30, shared: false, clock: false }),
    ).toBe('cam2:width=1280,height=720,fps=15,bitrate=2000,gop=30,pattern=snow,shared=0,clock=0');
    expect(() => mountSpecArg({ name: 'bad name' })).toThrow(/mount name/);
    expect(() => mountSpecArg({ name: 'c', fps: 0 })).toThrow(/fps/);
    expect(() => mountSpecArg({ name: 'c', user: 'u' })).toThrow(/together/);
    expect(mountSpecArg({ name: 'c', sprop: false, gop: 60 })).toBe('c:gop=60,sprop=0');
  });

  it('builds edge SPEC keys and camera-style replay times', () => {
    expect(mountSpecArg({ name: 'cam1', edge: {} })).toBe('cam1:edge=1');
    expect(mountSpecArg({ name: 'cam1', edge: { sinceMs: 1795600000000.4, timezone: 'Europe/Paris' } })).toBe(
      'cam1:edge=1,edge_since=1795600000000,edge_tz=Europe/Paris',
    );
    expect(() => mountSpecArg({ name: 'c', edge: { timezone: 'Mars/Olympus' } })).toThrow(/time zone/);
    expect(() => mountSpecArg({ name: 'c', edge: { sinceMs: -1 } })).toThrow(/sinceMs/);
    expect(mountSpecArg({ name: 'cam1', edge: { sinceMs: 1795600000000, untilMs: 1795600030500.2 } })).toBe('cam1:edge=1,edge_since=1795600000000,edge_until=1795600030500');
    expect(() => mountSpecArg({ name: 'c', edge: { untilMs: Number.NaN } })).toThrow(/untilMs/);
    const t = Date.UTC(2026, 10, 25, 10, 15, 0, 900);
    expect(formatHikvisionTime(t)).toBe('20261125T101500Z');
    expect(formatDahuaTime(t)).toBe('2026_11_25_10_15_00');
    expect(formatDahuaTime(t, 'Europe/Paris')).toBe('2026_11_25_11_15_00');
    expect(formatDahuaTime(t, 'Asia/Tokyo')).toBe('2026_11_25_19_15_00');
    expect(formatDahuaTime(Date.UTC(2026, 11, 31, 23, 0, 0), 'Asia/Tokyo')).toBe('2027_01_01_08_00_00');
  });

  it('builds scene SPEC keys: the object rectangle inside the picture, 4 decimals', () => {
    expect(mountSpecArg({ name: 'door', scene: 'still', fps: 5 })).toBe('door:fps=5,scene=still');
    expect(mountSpecArg({ name: 'door', scene: 'still', object: { x: 0.1, y: 0.2, w: 1 / 3, h: 0.5 } })).toBe('door:scene=still,object=0.1:0.2:0.3333:0.5');
    expect(() => mountSpecArg({ name: 'door', scene: 'still', object: { x: 0.8, y: 0, w: 0.4, h: 0.5 } })).toThrow(/inside the picture/);
    expect(() => mountSpecArg({ name: 'door', scene: 'still', object: { x: 0, y: 0, w: 0, h: 0.5 } })).toThrow(/inside the picture/);
    expect(() => mountSpecArg({ name: 'door', scene: 'still', object: { x: Number.NaN, y: 0, w: 0.5, h: 0.5 } })).toThrow(/inside the picture/);
  });

  it('finds the python script', async () => {
    expect(scriptPath()).toMatch(/scripts[/\\]rtsp-server\.py$/);
    await expect(stat(scriptPath())).resolves.toBeTruthy();
  });
});

describe.skipIf(!availability.ok)('RtspServer (real gst-rtsp-server)', () => {
  let dir = '';
  const servers: RtspServer[] = [];
  const start = async (...args: Parameters<typeof RtspServer.start>) => {
    const s = await RtspServer.start(...args);
    servers.push(s);
    return s;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-rtsp-'));
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves two mounts, reports first_rtp, records, stalls on pause, restarts on the same port', async () => {
    const server = await start({
      port: 0,
      mounts: [
        { name: 'cam1', width: 640, height: 360, fps: 15 },
        { name: 'cam2', width: 320, height: 240, fps: 10, shared: false, clock: false },
      ],
    });
    expect(server.port).toBeGreaterThan(0);
    expect(server.mounts).toEqual(['/cam1', '/cam2']);
    expect(server.url('cam1')).toBe(`rtsp://127.0.0.1:${server.port}/cam1`);
    expect(server.url('/cam2')).toBe(`rtsp://127.0.0.1:${server.port}/cam2`);

    // --- ffprobe sees H.264 with the configured sizes; first_rtp comes shortly after connect.
    const t0 = Date.now();
    const [p1, p2] = await Promise.all([probeStreams(server.url('cam1')), probeStreams(server.url('cam2'))]);
    expect(p1.code, p1.stderr).toBe(0);
    expect(p2.code, p2.stderr).toBe(0);
    expect(p1.streams[0]).toMatchObject({ codec_type: 'video', codec_name: 'h264', width: 640, height: 360 });
    expect(p2.streams[0]).toMatchObject({ codec_type: 'video', codec_name: 'h264', width: 320, height: 240 });
    for (const m of ['cam1', 'cam2']) {
      const wall = await server.waitForFirstRtp(m, { after: t0 - 100, timeoutMs: 5_000 });
      expect(wall - t0).toBeGreaterThan(-100);
      expect(wall - t0).toBeLessThan(3_000);
      const key = await server.waitForFirstKeyframe(m, { after: t0 - 100, timeoutMs: 5_000 });
      expect(Math.abs(key - wall)).toBeLessThan(1_000);
      // The media is prepared (and the first buffer produced) on DESCRIBE, just before PLAY.
      const play = await server.waitForEvent('play', m, { after: t0 - 100, timeoutMs: 5_000 });
      expect(play - wall).toBeGreaterThan(-200);
      expect(play - wall).toBeLessThan(2_000);
    }
    expect(server.firstRtp('cam1')).toHaveLength(1);

    // --- 3 s recording has ~3 s duration.
    const out = join(dir, 'cam1.mp4');
    const rec = await record(server.url('cam1'), out, 3);
    expect(rec.code, rec.stderr).toBe(0);
    const f = await probeFile(out);
    expect(f.codec).toBe('h264');
    expect(f.duration).toBeGreaterThan(2.5);
    expect(f.duration).toBeLessThan(3.6);

    // --- SIGSTOP: a client's read stalls and times out; SIGCONT recovers.
    server.pause();
    expect(server.paused).toBe(true);
    const stalled = await probeStreams(server.url('cam1'), ['-timeout', '2000000']);
    expect(stalled.code).not.toBe(0);
    expect(stalled.ms).toBeGreaterThanOrEqual(1_500);
    server.resume();
    expect(server.paused).toBe(false);
    const recovered = await probeStreams(server.url('cam1'), ['-timeout', '5000000']);
    expect(recovered.code, recovered.stderr).toBe(0);
    expect(recovered.streams[0]).toMatchObject({ codec_name: 'h264', width: 640 });

    // --- kill() with a client attached (the camera dies), then restart on the same port.
    const port = server.port;
    const tRec = Date.now();
    const dying = record(server.url('cam1'), join(dir, 'dying.mp4'), 20);
    await server.waitForFirstRtp('cam1', { after: tRec - 100, timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 500));
    await server.kill();
    expect(server.exited).toBe(true);
    expect(server.exitSignal).toBe('SIGKILL');
    const dyingResult = await dying; // the client notices the dead camera and exits on its own
    expect(dyingResult.signal).toBeNull();

    const again = await start({ port, mounts: [{ name: 'cam1', width: 640, height: 360 }] });
    expect(again.port).toBe(port);
    const p3 = await probeStreams(again.url('cam1'));
    expect(p3.code, p3.stderr).toBe(0);
    expect(p3.streams[0]).toMatchObject({ codec_name: 'h264', width: 640, height: 360 });
    await again.stop();
    expect(again.exitCode).toBe(0);
  });

  it('snow at 720p gives a realistic (> 1 Mbit/s) load', async () => {
    const server = await start({
      mounts: [{ name: 'snow', pattern: 'snow', bitrateKbps: 2000, width: 1280, height: 720, fps: 15 }],
    });
    const out = join(dir, 'snow.mp4');
    const rec = await record(server.url('snow'), out, 3);
    expect(rec.code, rec.stderr).toBe(0);
    const f = await probeFile(out);
    expect(f.duration).toBeGreaterThan(2.5);
    const kbps = (f.size * 8) / f.duration / 1000;
    expect(kbps).toBeGreaterThan(1000);
    await server.stop();
    expect(server.exitCode).toBe(0);
  });

  it('per-mount and server-wide basic auth', async () => {
    const server = await start({
      mounts: [{ name: 'open' }, { name: 'locked', user: 'bob', pass: 's3cret' }, { name: 'global' }],
      auth: { user: 'admin', pass: 'p@ss:word' },
    });
    expect(server.url('locked', { credentials: true })).toBe(`rtsp://bob:s3cret@127.0.0.1:${server.port}/locked`);
    const [anon, withCreds, wrongUser, global, open] = await Promise.all([
      probeStreams(server.url('locked')),
      probeStreams(server.url('locked', { credentials: true })),
      probeStreams(server.url('locked').replace('rtsp://', 'rtsp://admin:p%40ss%3Aword@')),
      probeStreams(server.url('global', { credentials: true })),
      probeStreams(server.url('open')),
    ]);
    expect(anon.code).not.toBe(0);
    expect(anon.stderr).toMatch(/401/);
    expect(wrongUser.code).not.toBe(0);
    expect(wrongUser.stderr).toMatch(/401/);
    expect(withCreds.code, withCreds.stderr).toBe(0);
    expect(global.code, global.stderr).toBe(0);
    // --auth applies to every mount without its own credentials
    expect(open.code).not.toBe(0);
    expect(open.stderr).toMatch(/401/);
    await server.stop();
  });

  it('rejects a bad SPEC with the script error, and a taken port', async () => {
    await expect(RtspServer.start({ mounts: [{ name: 'x', pattern: 'no-such-pattern' }] })).rejects.toThrow(
      /exited before ready[\s\S]*unknown videotestsrc pattern/,
    );
    // scene=still: the clock needs room in its corner (or none at all); the object key needs the scene.
    await expect(RtspServer.start({ mounts: [{ name: 'x', scene: 'still', width: 160, height: 90 }] })).rejects.toThrow(
      /exited before ready[\s\S]*needs at least 320x180 \(or clock=0\)/,
    );
    await expect(RtspServer.start({ mounts: [{ name: 'x', object: { x: 0, y: 0, w: 0.5, h: 0.5 } }] })).rejects.toThrow(
      /exited before ready[\s\S]*object needs scene=still/,
    );
    const server = await start({ mounts: [{ name: 'a' }, { name: 'small', scene: 'still', width: 160, height: 90, clock: false }] });
    // Scene commands on a mount without the scene are refused, not ignored.
    await expect(server.moveObject('a', true)).rejects.toThrow(/no scene=still mount/);
    await expect(server.setBrightness('a', 0.2, 0)).rejects.toThrow(/no scene=still mount/);
    await expect(server.setBrightness('small', 1.5, 0)).rejects.toThrow(/-1\.\.1/);
    await expect(server.setBrightness('small', -0.25, 0)).resolves.toBeGreaterThan(0);
    await expect(RtspServer.start({ port: server.port, mounts: [{ name: 'b' }] })).rejects.toThrow(
      /Address already in use|cannot listen/,
    );
    await server.stop();
  });
});

/** ffmpeg pulling a replay URL into a file (stream copy), as the refill service does. */
function pull(url: string, out: string, extra: string[] = [], timeoutMs = 20_000): Promise<RunResult> {
  return run(
    'ffmpeg',
    ['-nostdin', '-v', 'error', ...extra, '-rtsp_transport', 'tcp', '-i', url, '-c', 'copy', '-f', out.endsWith('.ts') ? 'mpegts' : 'mp4', '-y', out],
    timeoutMs,
  );
}

describe.skipIf(!availability.ok)('RtspServer edge replay (real gst-rtsp-server, real ffmpeg)', () => {
  let dir = '';
  let server: RtspServer;
  // Whole seconds, so the requested span is exactly expressible in both URL formats.
  const since = Math.floor(Date.now() / 1000) * 1000 - 60_000;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-edge-'));
    server = await RtspServer.start({
      mounts: [
        { name: 'cam1', width: 320, height: 240, fps: 15, edge: { sinceMs: since } },
        { name: 'tokyo', width: 320, height: 240, fps: 10, edge: { sinceMs: since, timezone: 'Asia/Tokyo' } },
        { name: 'short', width: 320, height: 240, fps: 10, edge: { sinceMs: since, untilMs: since + 40_500 } },
      ],
    });
  });
  afterAll(async () => {
    await server?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('Hikvision style: streams exactly the requested span, then ends so ffmpeg exits by itself', async () => {
    const start = since + 30_000;
    const url = server.replayUrl('cam1', 'hikvision', start, start + 4_000);
    expect(url).toBe(
      `rtsp://127.0.0.1:${server.port}/cam1/Streaming/tracks/101?starttime=${formatHikvisionTime(start)}&endtime=${formatHikvisionTime(start + 4_000)}`,
    );
    const t0 = Date.now();
    const out = join(dir, 'hik.mp4');
    const r = await pull(url, out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.signal).toBeNull();
    // Real time: a 4 s span takes about 4 s.
    expect(r.ms).toBeGreaterThan(3_000);
    const f = await probeFile(out);
    expect(f.codec).toBe('h264');
    expect(Math.abs(f.duration - 4)).toBeLessThan(1);
    const begun = await server.waitForReplayEvent('replay', 'cam1', { after: t0 });
    expect(begun).toMatchObject({ style: 'hikvision', start_ms: start, end_ms: start + 4_000, frames: 60 });
    const ended = await server.waitForReplayEvent('replay_end', 'cam1', { after: t0 });
    expect(ended).toMatchObject({ start_ms: start, end_ms: start + 4_000, frames: 60 });
    expect(ended.wall_ms - begun.wall_ms).toBeGreaterThan(3_000);
    expect(server.eventTimes('play', 'cam1').some((t) => t >= t0)).toBe(true);
  });

  it('Dahua style honours the mount time zone (Asia/Tokyo)', async () => {
    const start = since + 20_000;
    const end = start + 2_000;
    const tokyoUrl = server.replayUrl('tokyo', 'dahua', start, end);
    // Tokyo is UTC+9 all year: the wall-time digits are the UTC ones shifted by 9 h.
    const shifted = formatHikvisionTime(start + 9 * 3_600_000);
    const digits = `${shifted.slice(0, 4)}_${shifted.slice(4, 6)}_${shifted.slice(6, 8)}_${shifted.slice(9, 11)}_${shifted.slice(11, 13)}_${shifted.slice(13, 15)}`;
    expect(tokyoUrl).toContain(`/tokyo/cam/playback?channel=1&starttime=${digits}&endtime=`);
    const t0 = Date.now();
    const ok = await pull(tokyoUrl, join(dir, 'dahua.mp4'));
    expect(ok.code, ok.stderr).toBe(0);
    const f = await probeFile(join(dir, 'dahua.mp4'));
    expect(Math.abs(f.duration - 2)).toBeLessThan(1);
    await expect(server.waitForReplayEvent('replay_end', 'tokyo', { after: t0 })).resolves.toMatchObject({
      style: 'dahua',
      start_ms: start,
      end_ms: end,
      frames: 20,
    });

    // The same digits read as UTC (mount cam1 has no time zone) name a span 9 h in the future: 404.
    const asUtc = tokyoUrl.replace('/tokyo/', '/cam1/');
    const refusedUtc = await pull(asUtc, join(dir, 'no1.mp4'));
    expect(refusedUtc.code).not.toBe(0);
    expect(refusedUtc.stderr).toMatch(/404 Not Found/);
    const ev1 = await server.waitForReplayEvent('replay_refused', 'cam1', { after: t0 });
    expect(ev1.start_ms).toBe(start + 9 * 3_600_000);
    // UTC digits sent to the Tokyo mount name a span 9 h earlier, before the footage held: 404.
    const utcDigitsToTokyo = server.replayUrl('cam1', 'dahua', start, end).replace('/cam1/', '/tokyo/');
    const refusedTokyo = await pull(utcDigitsToTokyo, join(dir, 'no2.mp4'));
    expect(refusedTokyo.stderr).toMatch(/404 Not Found/);
    const ev2 = await server.waitForReplayEvent('replay_refused', 'tokyo', { after: t0 });
    expect(ev2.start_ms).toBe(start - 9 * 3_600_000);
    expect(ev2.reason).toMatch(/before the oldest footage/);
  });

  it('edge.untilMs: a span running past the newest footage held is sent only up to it; one starting after it is refused', async () => {
    const t0 = Date.now();
    const cut = await pull(server.replayUrl('short', 'hikvision', since + 38_000, since + 42_000), join(dir, 'cut.mp4'));
    expect(cut.code, cut.stderr).toBe(0);
    expect(Math.abs((await probeFile(join(dir, 'cut.mp4'))).duration - 2.5)).toBeLessThan(0.5);
    // The span asked for is reported as asked; the frames are those held (2.5 s at 10 fps).
    await expect(server.waitForReplayEvent('replay_end', 'short', { after: t0 })).resolves.toMatchObject({ start_ms: since + 38_000, end_ms: since + 42_000, frames: 25 });
    const after = await pull(server.replayUrl('short', 'hikvision', since + 41_000, since + 43_000), join(dir, 'after.mp4'));
    expect(after.stderr).toMatch(/404 Not Found/);
    const refused = await server.waitForReplayEvent('replay_refused', 'short', { after: t0 });
    expect(refused).toMatchObject({ start_ms: since + 41_000 });
    expect(refused.reason).toMatch(/after the newest footage held/);
  });

  it('answers 404 at DESCRIBE for spans not held and malformed requests', async () => {
    const t0 = Date.now();
    const before = await pull(server.replayUrl('cam1', 'hikvision', since - 10_000, since - 6_000), join(dir, 'before.mp4'));
    expect(before.code).not.toBe(0);
    expect(before.stderr).toMatch(/404 Not Found/);
    const refused = await server.waitForReplayEvent('replay_refused', 'cam1', { after: t0 });
    expect(refused).toMatchObject({ style: 'hikvision', start_ms: since - 10_000 });
    expect(refused.reason).toMatch(/before the oldest footage/);

    const base = `rtsp://127.0.0.1:${server.port}/cam1`;
    const now = Date.now();
    const bad = [
      server.replayUrl('cam1', 'hikvision', now - 2_000, now + 10_000), // ends in the future
      server.replayUrl('cam1', 'hikvision', since + 5_000, since + 5_000), // end <= start
      `${base}/Streaming/tracks/101?starttime=2026-11-25T10:15:00Z&endtime=20261125T101530Z`, // malformed
      `${base}/cam/playback?channel=2&starttime=${formatDahuaTime(since + 1_000)}&endtime=${formatDahuaTime(since + 2_000)}`,
    ];
    const results = await Promise.all(bad.map((u, i) => pull(u, join(dir, `bad${i}.mp4`))));
    for (const r of results) expect(r.stderr).toMatch(/404 Not Found/);
    expect(server.replayEvents('cam1').filter((e) => e.event === 'replay_refused' && e.wall_ms >= t0)).toHaveLength(5);
    expect(server.replayEvents('cam1').filter((e) => e.event === 'replay' && e.wall_ms >= t0)).toHaveLength(0);
  });

  it('stallReplays(true) freezes a running replay with the session open; (false) lets new replays work', async () => {
    const start = since + 5_000;
    const t0 = Date.now();
    const out = join(dir, 'stalled.ts');
    const pulling = pull(server.replayUrl('cam1', 'hikvision', start, start + 30_000), out, ['-timeout', '2000000'], 25_000);
    await server.waitForEvent('play', 'cam1', { after: t0, timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 3_000)); // past ffmpeg's stream probing
    await server.stallReplays(true);
    const tStall = Date.now();
    const r = await pulling;
    // ffmpeg's socket timeout fires: it stops on its own well before the 30 s span (and our kill timer).
    expect(r.signal).toBeNull();
    expect(Date.now() - tStall).toBeLessThan(9_000);
    expect(r.stderr).toMatch(/timed out/i);
    const aborted = await server.waitForReplayEvent('replay_aborted', 'cam1', { after: t0 });
    // The RTSP session stayed open while stalled: the media went away only when the client gave up.
    expect(aborted.wall_ms - tStall).toBeGreaterThan(1_500);
    expect(aborted.frames).toBeLessThan(15 * 8);
    expect((await probeFile(out)).duration).toBeLessThan(8);
    expect(server.replayEvents('cam1').some((e) => e.event === 'replay_end' && e.wall_ms >= t0)).toBe(false);

    await server.stallReplays(false);
    const t1 = Date.now();
    const again = await pull(server.replayUrl('cam1', 'hikvision', start, start + 2_000), join(dir, 'after.mp4'), ['-timeout', '2000000']);
    expect(again.code, again.stderr).toBe(0);
    expect(Math.abs((await probeFile(join(dir, 'after.mp4'))).duration - 2)).toBeLessThan(1);
    await server.waitForReplayEvent('replay_end', 'cam1', { after: t1 });
  });
});

/** The SDP a camera answers a DESCRIBE with: one RTSP request on a fresh TCP connection. */
function describeSdp(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no DESCRIBE answer from ${url}`));
    }, 10_000);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`DESCRIBE ${url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n`));
    sock.on('data', (d: string) => {
      buf += d;
      const headEnd = buf.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const length = Number(/^Content-Length:\s*(\d+)/im.exec(buf.slice(0, headEnd))?.[1] ?? 0);
      if (buf.length - headEnd - 4 < length) return;
      clearTimeout(timer);
      sock.end();
      if (!buf.startsWith('RTSP/1.0 200')) reject(new Error(`DESCRIBE ${url}: ${buf.slice(0, buf.indexOf('\r\n'))}`));
      else resolve(buf.slice(headEnd + 4, headEnd + 4 + length));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** An RTSP client that stays attached (keeps a shared mount's media running) until killed. */
function attach(url: string): { stop: () => Promise<void> } {
  const child = spawn('ffmpeg', ['-nostdin', '-v', 'error', '-rtsp_transport', 'tcp', '-i', url, '-c', 'copy', '-f', 'null', '-'], { stdio: 'ignore' });
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  return {
    stop: async () => {
      child.kill('SIGKILL');
      await closed;
    },
  };
}

/** Sleeps until `intoGopMs` into the next GOP of a media whose keyframes come every `gopMs` from `keyframeMs`. */
async function untilMidGop(keyframeMs: number, gopMs: number, intoGopMs: number): Promise<void> {
  const now = Date.now();
  const next = keyframeMs + Math.ceil((now - keyframeMs - intoGopMs) / gopMs) * gopMs + intoGopMs;
  await sleep(Math.max(0, next - now));
}

describe.skipIf(!availability.ok)('RtspServer camera faults: an SDP without sprop-parameter-sets, a media clock that jumps', () => {
  const FPS = 15;
  const FRAME_TICKS = 90_000 / FPS;
  const GOP_MS = 4_000;
  let dir = '';
  let server: RtspServer;
  const attached: Array<{ stop: () => Promise<void> }> = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-faults-'));
    server = await RtspServer.start({
      mounts: [
        { name: 'nosprop', fps: FPS, gop: (GOP_MS / 1000) * FPS, sprop: false },
        { name: 'sprop', fps: FPS, gop: (GOP_MS / 1000) * FPS },
        { name: 'jumpy', fps: FPS },
        { name: 'restarts', fps: FPS, gop: (GOP_MS / 1000) * FPS },
        { name: 'joins', fps: FPS, gop: (GOP_MS / 1000) * FPS, seek: false },
      ],
    });
  });
  afterAll(async () => {
    await Promise.all(attached.map((a) => a.stop()));
    await server?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('sprop=0: the SDP lacks sprop-parameter-sets, and a quick probe joining mid-GOP fails as the recorder expects; with sprop it records', async () => {
    const t0 = Date.now();
    for (const m of ['nosprop', 'sprop']) attached.push(attach(server.url(m)));
    const keyframe = await server.waitForFirstKeyframe('nosprop', { after: t0 - 100 });
    await server.waitForEvent('play', 'sprop', { after: t0 - 100 });

    // A real DESCRIBE of the running media: the same H.264 stream, without its parameters.
    const [without, withSprop] = await Promise.all([describeSdp(server.url('nosprop')), describeSdp(server.url('sprop'))]);
    expect(without).toMatch(/^a=rtpmap:96 H264\/90000\r?$/m);
    expect(without).toMatch(/^a=fmtp:96 packetization-mode=1\r?$/m);
    expect(without).not.toMatch(/sprop-parameter-sets/);
    expect(withSprop).toMatch(/^a=fmtp:96 .*sprop-parameter-sets=[A-Za-z0-9+/=]+,[A-Za-z0-9+/=]+/m);

    // Joined 1.5 s into a 4 s GOP, the recorder's input arguments: the first packets carry no SPS.
    const quick = (m: string, out: string) =>
      run('ffmpeg', ['-nostdin', '-v', 'error', ...rtspInputArgs(server.url(m), 5, true), '-t', '2', '-c', 'copy', '-f', 'mp4', '-y', join(dir, out)]);
    expect(QUICK_PROBE_ARGS).toEqual(['-probesize', '32', '-analyzeduration', '100000']);
    await untilMidGop(keyframe, GOP_MS, 1_500);
    const [failed, recorded] = await Promise.all([quick('nosprop', 'nosprop.mp4'), quick('sprop', 'sprop.mp4')]);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(QUICK_PROBE_FAILED);
    expect(recorded.code, recorded.stderr).toBe(0);
    expect((await probeFile(join(dir, 'sprop.mp4'))).duration).toBeGreaterThan(1.5);

    // The full analysis waits for the next keyframe's in-band SPS (a GOP shorter than its 5 s).
    await untilMidGop(keyframe, GOP_MS, 1_500);
    const full = await run('ffmpeg', ['-nostdin', '-v', 'error', ...rtspInputArgs(server.url('nosprop'), 5, false), '-t', '2', '-c', 'copy', '-f', 'mp4', '-y', join(dir, 'full.mp4')]);
    expect(full.code, full.stderr).toBe(0);
    const f = await probeFile(join(dir, 'full.mp4'));
    expect(f.codec).toBe('h264');
    expect(f.duration).toBeGreaterThan(1.5);
    // One shared media served every client: none restarted it (a restart would start at a keyframe).
    expect(server.firstKeyframe('nosprop').filter((t) => t >= t0 - 100)).toHaveLength(1);
  });

  it('jump: a client sees the packets\' pts step by the jump between two frames that arrive at the usual pace', async () => {
    await expect(server.jump('nope', 1000)).rejects.toThrow(/no such mount/);
    await expect(server.jump('jumpy', 1.5)).rejects.toThrow(/whole milliseconds/);
    const reader = readPts(server.url('jumpy'));
    const { packets } = reader;
    const packetsOrEnd = (n: number) => reader.until(n);
    try {
      await packetsOrEnd(2 * FPS);
      const forward = await server.jump('jumpy', 5_000);
      expect(forward).toMatchObject({ mount: '/jumpy', jump_ms: 5_000, offset_ms: 5_000, medias: 1 });
      const afterForward = packets.length;
      await packetsOrEnd(afterForward + 2 * FPS);
      const back = await server.jump('jumpy', -2_000);
      expect(back).toMatchObject({ jump_ms: -2_000, offset_ms: 3_000, medias: 1 });
      await packetsOrEnd(packets.length + 2 * FPS);
      await reader.stop();

      const steps = packets.slice(1).map((p, i) => ({ i: i + 1, step: p.pts - (packets[i] as { pts: number }).pts }));
      const jumps = steps.filter((s) => s.step !== FRAME_TICKS);
      expect(jumps.map((j) => j.i), JSON.stringify(jumps)).toHaveLength(2);
      const [up, down] = jumps as [{ i: number; step: number }, { i: number; step: number }];
      expect(Math.abs(up.step - FRAME_TICKS - 5_000 * 90)).toBeLessThanOrEqual(FRAME_TICKS);
      expect(Math.abs(down.step - FRAME_TICKS + 2_000 * 90)).toBeLessThanOrEqual(FRAME_TICKS);
      // Right after each command: the jump comes after the ack, and no later than the frames already
      // on their way then (sent before it, received up to a few frame intervals later).
      for (const [j, ack] of [[up, forward], [down, back]] as const) {
        expect((packets[j.i] as { atMs: number }).atMs - ack.wall_ms, `jumped packet ${j.i}`).toBeGreaterThan(-50);
        const inFlight = packets.slice(0, j.i).filter((p) => p.atMs > ack.wall_ms).length;
        expect(inFlight, `frames received after the ack of ${ack.jump_ms} ms and before the jump`).toBeLessThanOrEqual(3);
      }
      // Frames arrive at their pace across both jumps: no hole, ~15 a second. (From a second before
      // the first: ffprobe hands over the frames of its stream analysis in one burst.)
      const paced = packets.slice(up.i - FPS);
      const gaps = paced.slice(1).map((p, i) => p.atMs - (paced[i] as { atMs: number }).atMs);
      expect(Math.max(...gaps)).toBeLessThan(500);
      const rate = ((paced.length - 1) * 1000) / ((paced.at(-1) as { atMs: number }).atMs - (paced[0] as { atMs: number }).atMs);
      expect(rate).toBeGreaterThan(FPS * 0.8);
      expect(rate).toBeLessThan(FPS * 1.25);
    } finally {
      await reader.stop();
    }
  });

  it('seek=false: a client joining a shared mount leaves the others\' timestamps alone; by default the join restarts the media and sets them back', async () => {
    const t0 = Date.now();
    const readers = { restarts: readPts(server.url('restarts')), joins: readPts(server.url('joins')) };
    try {
      await Promise.all(Object.values(readers).map((r) => r.until(2 * FPS)));
      const before = { restarts: readers.restarts.packets.length, joins: readers.joins.packets.length };
      // A second client on each mount, mid-GOP.
      for (const m of ['restarts', 'joins']) attached.push(attach(server.url(m)));
      await server.waitForEvent('play', 'joins', { after: t0 + 500 });
      await server.waitForEvent('play', 'restarts', { after: t0 + 500 });
      await Promise.all(Object.entries(readers).map(([m, r]) => r.until(before[m as keyof typeof before] + 2 * FPS)));
      const backSteps = (m: keyof typeof readers) => {
        const p = readers[m].packets;
        return p.slice(1).filter((q, i) => q.pts <= (p[i] as { pts: number }).pts).length;
      };
      expect(backSteps('joins'), 'pts of the first client of the seek=0 mount').toBe(0);
      expect(server.firstKeyframe('joins').filter((t) => t >= t0 - 100)).toHaveLength(1);
      // The default, kept for tests that want every client to start on a keyframe.
      expect(backSteps('restarts')).toBeGreaterThan(0);
    } finally {
      await Promise.all(Object.values(readers).map((r) => r.stop()));
    }
  });
});

/**
 * Reads each packet's pts of a mount's video as ffprobe reads it (line-buffered, so each line arrives
 * with its packet); stops on `stop()` or after 30 s.
 */
function readPts(url: string): {
  packets: Array<{ atMs: number; pts: number }>;
  until(n: number): Promise<void>;
  stop(): Promise<void>;
} {
  // Not -read_intervals %+#N to end it: ffprobe then ends early on a jumped pts.
  const child = spawn('stdbuf', ['-oL', 'ffprobe', '-v', 'error', '-rtsp_transport', 'tcp', '-show_entries', 'packet=pts', '-of', 'csv=p=0', url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let ended = false;
  const closed = new Promise<void>((r) =>
    child.once('close', () => {
      ended = true;
      r();
    }),
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const packets: Array<{ atMs: number; pts: number }> = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    // One line a packet, "<pts>" or "<pts>," (with side data, on lines of their own); the session's
    // first packet has no timestamp (N/A).
    const pts = /^(-?\d+),?$/.exec(line.trim())?.[1];
    if (pts !== undefined) packets.push({ atMs: Date.now(), pts: Number(pts) });
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return {
    packets,
    async until(n) {
      while (packets.length < n && !ended) await sleep(20);
      expect(packets.length, `packets read before ffprobe ended: ${stderr}`).toBeGreaterThanOrEqual(n);
    },
    async stop() {
      clearTimeout(killer);
      child.kill('SIGKILL');
      await closed;
    },
  };
}
