/**
 * An H.265 camera end to end (the fake camera's `codec: 'h265'`: x265, rtph265pay): recorded as `hvc1`
 * from its first file on, indexed with that codec string and exact durations, cut into clips that hold
 * exactly the source frames, snapshots that decode, playlists that list it, and a live view whose MSE
 * type names hvc1.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { scanFmp4 } from '../../src/media/fmp4/scan.js';
import { checkConsistency, readCatalog, querySql, type SegRow } from '../support/footage.js';
import { removeDir, startVigil, tempDir, waitFor, type TestVigil } from '../support/harness.js';
import { LiveClient } from '../support/live-client.js';
import { parsePrometheusText, sampleValue } from '../support/prom-text.js';

const run = promisify(execFile);
const FPS = 15;
const iso = (ms: number) => new Date(ms).toISOString();
/** hvcC of x265's Main profile, level 3 (640x360): 'hvc1.1.6.L90.90' style strings, the entry first. */
const HVC1_CODEC = /^hvc1\.1\.6\.L\d+(\.[0-9A-F]{2})*$/;

async function ffprobe(file: string, entries: string): Promise<Record<string, string>> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', entries, '-of', 'default=noprint_wrappers=1', file]);
  return Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
}

/** Each decoded frame's presentation time (seconds, as ffmpeg shows it, edit list honoured) and pixel checksum. */
async function decodedFrames(file: string): Promise<Array<{ t: number; md5: string }>> {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:v:0', '-f', 'framemd5', '-'], { maxBuffer: 32 * 1024 * 1024 });
  let timebase = 1;
  const frames: Array<{ t: number; md5: string }> = [];
  for (const line of stdout.split('\n')) {
    const tb = /^#tb \d+: (\d+)\/(\d+)/.exec(line);
    if (tb) timebase = Number(tb[1]) / Number(tb[2]);
    if (!line || line.startsWith('#')) continue;
    const cols = line.split(',').map((c) => c.trim());
    frames.push({ t: Number(cols[2]) * timebase, md5: cols[5] as string });
  }
  return frames;
}

describe('an H.265 camera', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  let segs: SegRow[];
  let work: string;
  let liveMime: string | undefined;
  let liveCodec: string | undefined;
  const seg = (i: number) => segs[i] as SegRow;

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam1', codec: 'h265', fps: FPS, pattern: 'ball' }] });
    vigil = await startVigil({ cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }] });
    work = await tempDir('vigil-h265-');
    // The live view, while the camera records: the init names the sample entry the recorder wrote.
    await waitFor('a first row', () => readCatalog(vigil.dataDir).segments.length > 0, 30_000, 250);
    const live = await LiveClient.connect(vigil.app.url, '/cameras/cam1/live', vigil.auth);
    try {
      const init = await waitFor('a live init', () => live.texts().find((t) => t.type === 'init'), 15_000, 50);
      liveMime = init['mime'] as string;
      liveCodec = init['codec'] as string;
      await waitFor('a live fragment', () => live.stream().fragments.length > 0, 15_000, 50);
    } finally {
      live.socket.close();
    }
    await waitFor('11 s of footage', () => {
      const list = readCatalog(vigil.dataDir).segments;
      return list.length > 0 && (list.at(-1) as SegRow).end_ms - (list[0] as SegRow).start_ms >= 11_000;
    }, 45_000, 250);
    const res = await vigil.api('/cameras/cam1', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"enabled":false}' });
    expect(res.status).toBe(200);
    await server.stop();
    segs = readCatalog(vigil.dataDir).segments.filter((s) => s.camera_id === 'cam1');
  }, 120_000);

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
    if (work && !process.env.KEEP) await removeDir(work);
  });

  it('records every file as hvc1 (the first too), indexed with the hvc1 codec string and exact durations', async () => {
    expect(segs.length).toBeGreaterThanOrEqual(5);
    const codecs = querySql(vigil.dataDir, "SELECT codec FROM segments WHERE camera_id = 'cam1' ORDER BY start_ms") as Array<{ codec: string }>;
    expect(codecs.length).toBe(segs.length);
    for (const { codec } of codecs) expect(codec).toMatch(HVC1_CODEC);
    for (const s of segs) {
      const file = join(vigil.dataDir, s.path);
      expect(await ffprobe(file, 'stream=codec_name,codec_tag_string,width,height')).toEqual({ codec_name: 'hevc', codec_tag_string: 'hvc1', width: '640', height: '360' });
      // The row's duration is the file's own: the sum of its frames' durations.
      const scan = await scanFmp4(file);
      expect(s.duration_ms).toBe(Math.round(scan.videoDurationSeconds * 1000));
      expect(s.end_ms - s.start_ms).toBe(s.duration_ms);
    }
  });

  it('learns the codec from its first run: one reconnect, said why, then hvc1 from the start', () => {
    const { events, status } = readCatalog(vigil.dataDir);
    const exits = events.filter((e) => e.type === 'recorder_exited');
    expect(exits.map((e) => JSON.parse(String(e.payload ?? '{}')).reason)).toEqual([expect.stringContaining('the camera sends H.265; reconnecting to record it as hvc1')]);
    expect(status.find((x) => x.camera_id === 'cam1')?.['reconnect_count']).toBe(1);
    // The first run's file (hev1 when written) is short: it was stopped at the first look at its init.
    expect(seg(0).duration_ms).toBeLessThan(2000);
  });

  it('the live view\'s MSE type names the hvc1 entry', () => {
    expect(liveCodec).toMatch(HVC1_CODEC);
    expect(liveMime).toBe(`video/mp4; codecs="${liveCodec}"`);
  });

  it('a clip over several segments holds exactly the source frames of the range (framemd5)', async () => {
    // Off the frame grid (15 fps: a frame every 66.7 ms), so no frame sits on a bound.
    const from = seg(1).start_ms + 430;
    const to = seg(3).start_ms + 730;
    const res = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/clip.mp4?from=${iso(from)}&to=${iso(to)}`, { headers: vigil.auth });
    expect(res.status).toBe(200);
    const clip = join(work, 'clip.mp4');
    await writeFile(clip, Buffer.from(await res.arrayBuffer()));
    expect(await ffprobe(clip, 'stream=codec_name,codec_tag_string')).toEqual({ codec_name: 'hevc', codec_tag_string: 'hvc1' });
    // What a player honouring the edit list shows: the frames from the one on screen at `from` on (ffmpeg
    // decodes the pre-roll from the keyframe too, at negative times).
    // framemd5 shifts the times to start at 0; the file starts at start_time (negative: the pre-roll).
    const start = Number((await run('ffprobe', ['-v', 'error', '-show_entries', 'format=start_time', '-of', 'csv=p=0', clip])).stdout.trim());
    expect(start).toBeLessThan(0);
    const got = (await decodedFrames(clip)).filter((f) => f.t + start + 1 / FPS > 1e-6).map((f) => f.md5);
    // The source: every frame of the segments the range crosses, placed on the wall clock by its row.
    const expected: string[] = [];
    for (const s of segs.slice(1, 4)) {
      const frames = await decodedFrames(join(vigil.dataDir, s.path));
      const t0 = frames[0]?.t ?? 0;
      for (const f of frames) {
        const atMs = s.start_ms + (f.t - t0) * 1000;
        if (atMs >= from - 1000 / FPS && atMs < to && atMs + 1000 / FPS > from) expected.push(f.md5);
      }
    }
    expect(got.length).toBeGreaterThanOrEqual(Math.floor(((to - from) / 1000) * FPS));
    expect(got).toEqual(expected);
  });

  it('a snapshot decodes: the frame shown at the instant, byte for byte', async () => {
    const s = seg(2);
    const at = s.start_ms + 700;
    const res = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/snapshot.jpg?at=${iso(at)}`, { headers: vigil.auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const jpeg = Buffer.from(await res.arrayBuffer());
    const file = join(work, 'snap.jpg');
    await writeFile(file, jpeg);
    expect(await ffprobe(file, 'stream=codec_name,width,height')).toEqual({ codec_name: 'mjpeg', width: '640', height: '360' });
    const frame = Math.floor(0.7 * FPS);
    const { stdout: expected } = await run(
      'ffmpeg',
      ['-v', 'error', '-i', join(vigil.dataDir, s.path), '-vf', `select=eq(n\\,${frame})`, '-frames:v', '1', '-f', 'image2', '-c:v', 'mjpeg', '-q:v', '3', 'pipe:1'],
      { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 },
    );
    expect(jpeg.equals(expected)).toBe(true);
  });

  it('the playback playlist lists every segment, each with its init', async () => {
    const from = seg(0).start_ms;
    const to = (segs.at(-1) as SegRow).end_ms;
    const res = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/playback.m3u8?from=${iso(from)}&to=${iso(to)}`, { headers: vigil.auth });
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const s of segs) expect(text).toContain(`segments/${s.id}/media.mp4`);
    // The init a player fetches first (EXT-X-MAP) is the file's own ftyp+moov: hvc1.
    const map = /#EXT-X-MAP:URI="([^"]+)",BYTERANGE="(\d+)@(\d+)"/.exec(text);
    expect(map).not.toBeNull();
    const [, uri, length, offset] = map as unknown as [string, string, string, string];
    const init = await fetch(new URL(uri, `${vigil.app.url}/api/v1/cameras/cam1/playback.m3u8`), {
      headers: { ...vigil.auth, range: `bytes=${offset}-${Number(offset) + Number(length) - 1}` },
    });
    expect(init.status).toBe(206);
    const bytes = Buffer.from(await init.arrayBuffer());
    expect(bytes.includes(Buffer.from('hvc1'))).toBe(true);
    expect(bytes.includes(Buffer.from('hvcC'))).toBe(true);
  });
});

describe('an H.265 camera: H.264 previews, the sub-stream, a restart and a switch back to H.264', () => {
  // Shares nothing with the suite above but the fake camera's kind: its own Vigil, recording as long as needed.
  let server: RtspServer;
  let vigil: TestVigil;
  let segs: SegRow[];
  let work: string;

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam1', codec: 'h265', fps: FPS, pattern: 'ball' }, { name: 'sub1', codec: 'h265', fps: FPS, width: 320, height: 180 }] });
    vigil = await startVigil({ cameras: [{ id: 'cam1', main_url: server.url('cam1'), sub_url: server.url('sub1'), segment_seconds: 2 }] });
    work = await tempDir('vigil-h265-preview-');
    await waitFor('7 s of footage', () => {
      const list = readCatalog(vigil.dataDir).segments;
      return list.length > 0 && (list.at(-1) as SegRow).end_ms - (list[0] as SegRow).start_ms >= 7_000;
    }, 45_000, 250);
    segs = readCatalog(vigil.dataDir).segments.filter((s) => s.camera_id === 'cam1');
  }, 90_000);

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
    if (work) await removeDir(work);
  });

  async function probe(bytes: Buffer, name: string): Promise<Record<string, string>> {
    const file = join(work, name);
    await writeFile(file, bytes);
    return ffprobe(file, 'stream=codec_name,codec_tag_string,width,height');
  }

  it('live: an H.264 transcode of the camera\'s stream at the asked height, labelled a preview', async () => {
    const t0 = Date.now();
    const abort = new AbortController();
    const res = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/live/preview.mp4?height=180`, { headers: vigil.auth, signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('x-vigil-preview')).toBe('h264-transcode');
    const chunks: Buffer[] = [];
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    // Three seconds of it: a second's fragments (a keyframe a second), so at least two whole ones.
    while (Date.now() - t0 < 4000) {
      const { value, done } = await reader.read();
      if (done || !value) break;
      chunks.push(Buffer.from(value));
    }
    abort.abort();
    const bytes = Buffer.concat(chunks);
    expect(await probe(bytes, 'live.mp4')).toEqual({ codec_name: 'h264', codec_tag_string: 'avc1', width: '320', height: '180' });
    const frames = await decodedFrames(join(work, 'live.mp4'));
    expect(frames.length).toBeGreaterThanOrEqual(FPS);
  });

  it('an odd height is taken one line less (H.264 wants even dimensions): 200 and a preview, not a 500', async () => {
    // Found by the API fuzz storm: height=199 made x264 refuse the size and the route answer 500.
    const res = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/playback/preview.mp4?from=${iso(seg(1).start_ms)}&height=179`, { headers: vigil.auth });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect((await probe(bytes, 'odd.mp4')).height).toBe('178');
  });

  it('recorded: the footage from the asked instant on, transcoded, every frame of it', async () => {
    const from = seg(1).start_ms + 430;
    const res = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/playback/preview.mp4?from=${iso(from)}&height=180`, { headers: vigil.auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-vigil-preview')).toBe('h264-transcode');
    expect(res.headers.get('x-vigil-preview-from')).toBe(iso(from));
    const toMs = Date.parse(res.headers.get('x-vigil-preview-to') ?? '');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(await probe(bytes, 'rec.mp4')).toEqual({ codec_name: 'h264', codec_tag_string: 'avc1', width: '320', height: '180' });
    // The frames whose time is at or after `from` (the pre-roll before it is dropped), up to the end it names.
    const first = seg(1).start_ms + Math.ceil(0.43 * FPS) * (1000 / FPS);
    const expected = Math.round(((toMs - first) / 1000) * FPS);
    const frames = await decodedFrames(join(work, 'rec.mp4'));
    expect(Math.abs(frames.length - expected)).toBeLessThanOrEqual(1);
  });

  it('bad input is refused before anything runs: 400 naming the field, 404 for an unknown camera or no footage', async () => {
    const get = async (path: string) => {
      const res = await fetch(`${vigil.app.url}/api/v1${path}`, { headers: vigil.auth });
      return { status: res.status, body: (await res.json()) as { error: string; field?: string } };
    };
    const from = iso(seg(0).start_ms);
    expect(await get(`/cameras/cam1/live/preview.mp4?height=100`)).toMatchObject({ status: 400, body: { field: 'height' } });
    expect(await get(`/cameras/cam1/live/preview.mp4?height=abc`)).toMatchObject({ status: 400, body: { field: 'height' } });
    expect(await get(`/cameras/cam1/playback/preview.mp4?from=yesterday`)).toMatchObject({ status: 400, body: { field: 'from' } });
    expect(await get(`/cameras/cam1/playback/preview.mp4`)).toMatchObject({ status: 400, body: { field: 'from' } });
    expect(await get(`/cameras/cam1/playback/preview.mp4?from=${from}&height=721`)).toMatchObject({ status: 400, body: { field: 'height' } });
    expect(await get(`/cameras/cam1/playback/preview.mp4?from=${from}&extra=1`)).toMatchObject({ status: 400 });
    expect(await get(`/cameras/nope/playback/preview.mp4?from=${from}`)).toMatchObject({ status: 404, body: { field: 'id' } });
    expect(await get(`/cameras/nope/live/preview.mp4`)).toMatchObject({ status: 404 });
    expect(await get(`/cameras/cam1/playback/preview.mp4?from=${iso(seg(0).start_ms - 3_600_000)}`)).toMatchObject({ status: 404, body: { field: 'from' } });
  });

  it('the sub-stream\'s live view (ffmpeg to a pipe, written hev1) is given the hvc1 entry too', async () => {
    const live = await LiveClient.connect(vigil.app.url, '/cameras/cam1/live?stream=sub', vigil.auth);
    try {
      const init = await waitFor('a sub-stream init', () => live.texts().find((t) => t.type === 'init'), 15_000, 50);
      expect(init['codec']).toMatch(HVC1_CODEC);
      expect(init['mime']).toBe(`video/mp4; codecs="${String(init['codec'])}"`);
      await waitFor('two sub-stream fragments', () => live.stream().fragments.length >= 2, 15_000, 50);
      const { init: bytes, fragments } = live.stream();
      const file = join(work, 'sub.mp4');
      await writeFile(file, Buffer.concat([(bytes as { data: Buffer }).data, ...fragments.map((f) => f.data)]));
      expect(await ffprobe(file, 'stream=codec_name,codec_tag_string,width,height')).toEqual({ codec_name: 'hevc', codec_tag_string: 'hvc1', width: '320', height: '180' });
      expect((await decodedFrames(file)).length).toBeGreaterThanOrEqual(FPS);
    } finally {
      live.socket.close();
    }
  });

  it('a viewer out of the camera\'s scope is refused; an open preview ends within a second of losing it', async () => {
    const json = (method: string, path: string, body?: unknown) =>
      vigil.api(path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const password = 'preview-Password-1';
    const created = (await (await json('POST', '/users', { username: 'previewer', password, role: 'viewer' })).json()) as { id: number };
    const login = await fetch(`${vigil.app.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'previewer', password }) });
    expect(login.status).toBe(200);
    const headers = { cookie: (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '', origin: vigil.app.url };
    const res = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/live/preview.mp4?height=180`, { headers });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    expect((await reader.read()).done).toBe(false);
    const changed = await json('PATCH', `/users/${created.id}`, { cameras: ['elsewhere'] });
    expect(changed.status).toBeLessThan(300);
    const at = Date.now();
    // Read on until the response ends (cut: an error, or done).
    for (;;) {
      const r = await reader.read().catch(() => ({ done: true }));
      if (r.done) break;
    }
    expect(Date.now() - at).toBeLessThanOrEqual(1_500);
    const refused = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/playback/preview.mp4?from=${iso(seg(0).start_ms)}`, { headers });
    // Out of scope, the camera is not there for this user (as for every camera route).
    expect(refused.status).toBe(404);
    await refused.arrayBuffer();
  });

  it('needs a credential: 401 without one', async () => {
    const res = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/live/preview.mp4`);
    expect(res.status).toBe(401);
    await res.arrayBuffer();
  });

  it('after a restart the codec is known from the catalog: hvc1 from the first file, no reconnect', async () => {
    const dataDir = vigil.dataDir;
    await vigil.app.stop();
    const before = readCatalog(dataDir).segments.length;
    const eventsBefore = readCatalog(dataDir).events.length;
    const reconnects = () => readCatalog(dataDir).status.find((x) => x.camera_id === 'cam1')?.['reconnect_count'];
    const reconnectsBefore = reconnects();
    vigil = await startVigil({ dataDir, cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }] });
    await waitFor('two more rows', () => readCatalog(dataDir).segments.length >= before + 2, 30_000, 250);
    const { segments, events } = readCatalog(dataDir);
    expect(events.slice(eventsBefore).filter((e) => e.type === 'recorder_exited')).toEqual([]);
    expect(reconnects()).toBe(reconnectsBefore);
    const fresh = segments.slice(before);
    const codecs = querySql(dataDir, `SELECT codec FROM segments WHERE id >= ${(fresh[0] as SegRow).id} ORDER BY id`) as Array<{ codec: string }>;
    for (const { codec } of codecs) expect(codec).toMatch(HVC1_CODEC);
    // The first file of the new run was written as hvc1 by ffmpeg itself (a whole segment, not a stopped run).
    expect((fresh[0] as SegRow).duration_ms).toBeGreaterThan(1500);
  });

  it('a camera switched back to H.264: the hvc1 tag is refused, one reconnect says why, then avc1', async () => {
    const dataDir = vigil.dataDir;
    await vigil.app.stop();
    const port = server.port;
    await server.stop();
    server = await RtspServer.start({ port, mounts: [{ name: 'cam1', fps: FPS }, { name: 'sub1', fps: FPS, width: 320, height: 180 }] });
    const before = readCatalog(dataDir).segments.length;
    const eventsBefore = readCatalog(dataDir).events.length;
    vigil = await startVigil({ dataDir, cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }] });
    await waitFor('two H.264 rows', () => readCatalog(dataDir).segments.length >= before + 2, 30_000, 250);
    const exits = readCatalog(dataDir).events.slice(eventsBefore).filter((e) => e.type === 'recorder_exited');
    expect(exits.map((e) => JSON.parse(e.payload).reason)).toEqual([expect.stringContaining('the camera sends H.264; reconnecting to record it as avc1')]);
    const fresh = readCatalog(dataDir).segments.slice(before);
    const codecs = querySql(dataDir, `SELECT codec FROM segments WHERE id >= ${(fresh[0] as SegRow).id} ORDER BY id`) as Array<{ codec: string }>;
    for (const { codec } of codecs) expect(codec).toMatch(/^avc1\./);
    // Recording stops (the PATCH returns once the last segment is indexed): the catalog matches the files,
    // the refused run's empty file included.
    const res = await vigil.api('/cameras/cam1', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"enabled":false}' });
    expect(res.status).toBe(200);
    expect(await checkConsistency(dataDir)).toEqual([]);
  });

  const seg = (i: number) => segs[i] as SegRow;
});

describe('a live preview of a camera that sends nothing', () => {
  it('answers 503 with Retry-After once the live view gives up on it, and frees its job slot', async () => {
    // A camera nobody answers for: the recorder never gets a frame, so the live view has nothing to give.
    const vigil = await startVigil({ cameras: [{ id: 'dark', main_url: 'rtsp://127.0.0.1:9/none', segment_seconds: 2 }], live: { offlineCloseMs: 2_000 } });
    try {
      const res = await fetch(`${vigil.app.url}/api/v1/cameras/dark/live/preview.mp4`, { headers: vigil.auth });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await res.json()).toMatchObject({ error: 'unavailable', message: expect.stringContaining('sends no video') });
      const metrics = parsePrometheusText(await (await vigil.api('/metrics')).text());
      expect(sampleValue(metrics, 'vigil_media_jobs_running', { pool: 'media' })).toBe(0);
      expect(sampleValue(metrics, 'vigil_ffmpeg_processes', { kind: 'preview' })).toBe(0);
    } finally {
      await vigil.app.stop();
      await removeDir(vigil.dataDir);
    }
  });
});

describe('previews are bounded by the media-job limiter', () => {
  it('with media.max_jobs 1, a preview streaming holds the slot: the next waits 10 s and gets 503; once it ends, one starts', async () => {
    const server = await RtspServer.start({ mounts: [{ name: 'cam1', codec: 'h265', fps: FPS }] });
    const vigil = await startVigil({ cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }], media: { max_jobs: 1 } });
    try {
      await waitFor('4 s of footage', () => {
        const list = readCatalog(vigil.dataDir).segments;
        return list.length > 0 && (list.at(-1) as SegRow).end_ms - (list[0] as SegRow).start_ms >= 4_000;
      }, 45_000, 250);
      const from = iso((readCatalog(vigil.dataDir).segments[0] as SegRow).start_ms);
      const holder = new AbortController();
      const first = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/live/preview.mp4?height=144`, { headers: vigil.auth, signal: holder.signal });
      expect(first.status).toBe(200);
      const reader = (first.body as ReadableStream<Uint8Array>).getReader();
      expect((await reader.read()).done).toBe(false);
      const metrics = async () => parsePrometheusText(await (await vigil.api('/metrics')).text());
      expect(sampleValue(await metrics(), 'vigil_ffmpeg_processes', { kind: 'preview' })).toBe(1);
      expect(sampleValue(await metrics(), 'vigil_media_jobs_running', { pool: 'media' })).toBe(1);
      const t0 = Date.now();
      const busy = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/playback/preview.mp4?from=${from}&height=144`, { headers: vigil.auth });
      expect(busy.status).toBe(503);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(9_500);
      expect(busy.headers.get('retry-after')).toBe('5');
      await busy.arrayBuffer();
      // The client of the first goes away: its transcode ends and the slot is free again.
      holder.abort();
      await waitFor('the slot freed', async () => sampleValue(await metrics(), 'vigil_media_jobs_running', { pool: 'media' }) === 0, 5_000, 100);
      const next = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/playback/preview.mp4?from=${from}&height=144`, { headers: vigil.auth });
      expect(next.status).toBe(200);
      await next.arrayBuffer();
      expect(sampleValue(await metrics(), 'vigil_ffmpeg_processes', { kind: 'preview' })).toBe(0);
    } finally {
      await vigil.app.stop();
      await server.stop();
      await removeDir(vigil.dataDir);
    }
  });
});

describe('an H.265 camera with AAC audio', () => {
  it('records hvc1 video and its audio in the same files, and the live init names both', async () => {
    const server = await RtspServer.start({ mounts: [{ name: 'cam1', codec: 'h265', fps: FPS, audio: 'aac' }] });
    const vigil = await startVigil({ cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }] });
    try {
      await waitFor('three rows', () => readCatalog(vigil.dataDir).segments.length >= 3, 45_000, 250);
      const live = await LiveClient.connect(vigil.app.url, '/cameras/cam1/live', vigil.auth);
      let init: Record<string, unknown>;
      try {
        init = await waitFor('a live init', () => live.texts().find((t) => t.type === 'init'), 15_000, 50);
      } finally {
        live.socket.close();
      }
      expect(init['codec']).toMatch(HVC1_CODEC);
      expect(init['mime']).toMatch(/^video\/mp4; codecs="hvc1\.[^,]+,mp4a\.40\.2"$/);
      const segs = readCatalog(vigil.dataDir).segments;
      for (const s of segs) {
        const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,codec_tag_string', '-of', 'csv=p=0', join(vigil.dataDir, s.path)]);
        expect(stdout.trim().split('\n')).toEqual(['hevc,hvc1', 'aac,mp4a']);
      }
    } finally {
      await vigil.app.stop();
      await server.stop();
      await removeDir(vigil.dataDir);
    }
  });
});
