import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountSpecArg, RtspServer, rtspServerAvailable, scriptPath } from './rtsp-server.js';

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
    const server = await start({ mounts: [{ name: 'a' }] });
    await expect(RtspServer.start({ port: server.port, mounts: [{ name: 'b' }] })).rejects.toThrow(
      /Address already in use|cannot listen/,
    );
    await server.stop();
  });
});
