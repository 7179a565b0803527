import { execFile } from 'node:child_process';
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { scanFmp4 } from '../../src/media/fmp4/scan.js';
import { sleep } from '../../src/shared/sleep.js';
import { readCatalog, type SegRow } from '../support/footage.js';
import { removeDir, startVigil, tempDir, waitFor, zombieChildren, type TestVigil } from '../support/harness.js';

const run = promisify(execFile);
const FPS = 15;
const FRAME_S = 1 / FPS;
const iso = (ms: number) => new Date(ms).toISOString();

/** ffmpeg children of this process (Vigil runs in it) whose argv holds `marker`: clip jobs (concat) or snapshots (mjpeg). */
async function jobFfmpegs(marker: 'concat' | 'mjpeg'): Promise<number[]> {
  const pids: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    const m = /\) (\S) (\d+) /.exec(stat);
    if (!m || m[1] === 'Z' || Number(m[2]) !== process.pid) continue;
    const argv = (await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '')).split('\0');
    // A warm snapshot decoder idle on stdin (media.warm_decoders) is not a job until a snapshot uses it.
    if (marker === 'mjpeg' && argv.includes('-copyts') && argv.includes('pipe:0')) continue;
    if (argv.some((a) => /(^|\/)ffmpeg$/.test(a)) && argv.includes(marker)) pids.push(Number(e));
  }
  return pids;
}

/** Files under `dir` this process (Vigil runs in it) holds open. */
async function openFilesUnder(dir: string): Promise<string[]> {
  const open: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith(`${dir}/`)) open.push(target);
  }
  return open;
}

async function ffprobe(file: string, entries: string): Promise<Record<string, string>> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', entries, '-of', 'default=noprint_wrappers=1', file]);
  return Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
}

/** A download read until its first chunk, then paused: the client is still there but takes nothing more. */
interface HeldDownload {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes(): number;
  /** Reads the rest; resolves with whether the response ended complete. */
  finish(): Promise<boolean>;
  /** The client goes away (socket destroyed). */
  abort(): void;
}

function holdDownload(url: string, headers: Record<string, string>): Promise<HeldDownload> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      let bytes = 0;
      let first = true;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (first) {
          first = false;
          res.pause();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            bytes: () => bytes,
            finish: () =>
              new Promise((done) => {
                res.once('end', () => done(res.complete));
                res.once('error', () => done(false));
                res.resume();
              }),
            abort: () => req.destroy(),
          });
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => {
      if (!(err as NodeJS.ErrnoException).code?.startsWith('ECONNRESET')) reject(err);
    });
  });
}

describe('clip export and snapshots of real recorded footage', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  let segs: SegRow[];
  let dbFile: string;
  let work: string;

  const recordingFds = () => openFilesUnder(join(vigil.dataDir, 'recordings'));
  const locks = (ids = segs.map((s) => s.id)): number[] => {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      return ids.map((id) => (db.prepare('SELECT locked FROM segments WHERE id = ?').get(id) as { locked: number }).locked);
    } finally {
      db.close();
    }
  };
  const clipUrl = (from: number, to: number) => `${vigil.app.url}/api/v1/cameras/cam1/clip.mp4?from=${iso(from)}&to=${iso(to)}`;
  const seg = (i: number) => segs[i] as SegRow;

  beforeAll(async () => {
    // Noise at 8 Mbit/s, 640x360, 15 fps, 1-s GOP: 2 MB a segment, so a clip of a few segments is
    // larger than what the pipes and loopback socket buffers (~4 MB) of a paused download hold, and
    // its ffmpeg stays blocked mid-clip for as long as the client takes nothing.
    server = await RtspServer.start({ mounts: [{ name: 'cam1', pattern: 'snow', bitrateKbps: 8000, fps: FPS }] });
    vigil = await startVigil({ cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }] });
    dbFile = join(vigil.dataDir, 'vigil.db');
    work = await tempDir('vigil-export-');
    await waitFor('13 s of footage', () => {
      const list = readCatalog(vigil.dataDir).segments;
      return list.length > 0 && (list.at(-1) as SegRow).end_ms - (list[0] as SegRow).start_ms >= 13_000;
    }, 45_000, 250);
    // Recording stops (the PATCH returns once the last segment is indexed): the footage is fixed from here.
    const res = await vigil.api('/cameras/cam1', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"enabled":false}' });
    expect(res.status).toBe(200);
    await server.stop();
    segs = readCatalog(vigil.dataDir).segments.filter((s) => s.camera_id === 'cam1');
  }, 90_000);

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
    if (work) await removeDir(work);
  });

  it('a clip over several segments is one playable MP4, cut by an edit list at the requested instants', async () => {
    expect(segs.length).toBeGreaterThanOrEqual(6);
    const from = seg(1).start_ms + 400;
    const to = seg(5).start_ms + 700;
    const rangeS = (to - from) / 1000;
    const res = await fetch(clipUrl(from, to), { headers: vigil.auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    const name = `cam1_${iso(from).replace(/[-:]/g, '')}_${iso(to).replace(/[-:]/g, '')}.mp4`;
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${name}"`);
    expect(Number(res.headers.get('x-vigil-covered-seconds'))).toBeCloseTo(rangeS, 3);
    expect(JSON.parse(res.headers.get('x-vigil-gaps') ?? 'null')).toEqual([]);
    const file = join(work, 'clip.mp4');
    const bytes = Buffer.from(await res.arrayBuffer());
    // Joined as recorded: its length is known before the first byte and sent (no chunked encoding).
    expect(res.headers.get('transfer-encoding')).toBeNull();
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    await writeFile(file, bytes);

    const probe = await ffprobe(file, 'format=duration,start_time:stream=codec_name');
    expect(probe['codec_name']).toBe('h264');
    const duration = Number(probe['duration']);
    const startTime = Number(probe['start_time']);
    // The file starts at the keyframe before `from` (at most one GOP, 1 s, early) …
    expect(Math.abs(duration - rangeS)).toBeLessThanOrEqual(1);
    // … and the edit list skips exactly the frames before `from`: the pre-roll is from − that keyframe.
    const first = await scanFmp4(join(vigil.dataDir, seg(1).path));
    const offset = (from - seg(1).start_ms) / 1000;
    const keyframe = first.fragments.filter((f) => (f.decodeTimeSeconds ?? 0) <= offset + 1e-9).at(-1)?.decodeTimeSeconds ?? 0;
    expect(startTime).toBeCloseTo(-(offset - keyframe), 2);
    // What a player that honours the edit list presents: the range, to within one frame at the end.
    const presented = duration + startTime;
    expect(presented).toBeGreaterThanOrEqual(rangeS - 0.002);
    expect(presented).toBeLessThanOrEqual(rangeS + FRAME_S + 0.002);

    const decode = await run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']);
    expect(decode.stderr).toBe('');
    expect(locks()).toEqual(segs.map(() => 0));
  });

  it('says which part of the range has no footage, and 404s a range with none, with the gap', async () => {
    const from = seg(0).start_ms - 3000;
    const to = seg(0).start_ms + 1000;
    const res = await fetch(clipUrl(from, to), { headers: vigil.auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-vigil-covered-seconds')).toBe('1.000');
    expect(JSON.parse(res.headers.get('x-vigil-gaps') ?? 'null')).toEqual([{ start: iso(from), end: iso(seg(0).start_ms) }]);
    expect(res.headers.get('x-vigil-gap-count')).toBe('1');
    await res.arrayBuffer();

    const none = await fetch(clipUrl(from - 60_000, from), { headers: vigil.auth });
    expect(none.status).toBe(404);
    expect(await none.json()).toEqual({
      error: 'not_found',
      message: expect.any(String),
      field: 'from',
      gaps: [{ start: iso(from - 60_000), end: iso(from) }],
    });
  });

  it('a client that goes away mid-download: its files are closed and every read-lock released within 1 s', async () => {
    const dl = await holdDownload(clipUrl(seg(0).start_ms, (segs.at(-1) as SegRow).end_ms), vigil.auth);
    expect(dl.status).toBe(200);
    await sleep(300);
    // The client takes nothing more: the clip is blocked mid-way (joined in-process, no ffmpeg), its
    // segments read-locked and their files open.
    expect(await jobFfmpegs('concat')).toEqual([]);
    expect(locks().every((n) => n === 1)).toBe(true);
    expect((await recordingFds()).length).toBeGreaterThan(0);
    const t0 = Date.now();
    dl.abort();
    await waitFor('locks released and files closed', async () => locks().every((n) => n === 0) && (await recordingFds()).length === 0, 1000, 20);
    expect(Date.now() - t0).toBeLessThanOrEqual(1000);
    expect(await zombieChildren()).toEqual([]);
  });

  it('two overlapping downloads hold a reference each: the first to finish leaves the other\'s segments locked', async () => {
    const a = await holdDownload(clipUrl(seg(0).start_ms, seg(4).end_ms), vigil.auth);
    const b = await holdDownload(clipUrl(seg(3).start_ms, (segs.at(-1) as SegRow).end_ms), vigil.auth);
    const expected = segs.map((_, i) => (i <= 4 ? 1 : 0) + (i >= 3 ? 1 : 0));
    await waitFor('both downloads locking', () => locks().join() === expected.join(), 2000, 20);
    expect(await a.finish()).toBe(true);
    await waitFor('first download released', () => locks().join() === segs.map((_, i) => (i >= 3 ? 1 : 0)).join(), 2000, 20);
    expect(await b.finish()).toBe(true);
    await waitFor('second download released', () => locks().every((n) => n === 0), 2000, 20);
  });

  it('a snapshot is the frame shown at the instant, as a decodable JPEG, scaled when asked', async () => {
    const s = seg(2);
    const at = s.start_ms + 700;
    const res = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/snapshot.jpg?at=${iso(at)}`, { headers: vigil.auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const jpeg = Buffer.from(await res.arrayBuffer());
    const file = join(work, 'snap.jpg');
    await writeFile(file, jpeg);
    const probe = await ffprobe(file, 'stream=codec_name,width,height');
    expect(probe).toMatchObject({ codec_name: 'mjpeg', width: '640', height: '360' });
    // 0.700 s into the file is shown by frame 10 (0.667 s … 0.733 s): byte for byte that frame.
    const frame = Math.floor(0.7 * FPS);
    const { stdout: expected } = await run(
      'ffmpeg',
      ['-v', 'error', '-i', join(vigil.dataDir, s.path), '-vf', `select=eq(n\\,${frame})`, '-frames:v', '1', '-f', 'image2', '-c:v', 'mjpeg', '-q:v', '3', 'pipe:1'],
      { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 },
    );
    expect(jpeg.equals(expected)).toBe(true);
    expect(Date.parse(res.headers.get('x-vigil-frame-time') ?? '')).toBe(s.start_ms + Math.round((frame / FPS) * 1000));

    const scaled = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/snapshot.jpg?at=${iso(at)}&width=320`, { headers: vigil.auth });
    expect(scaled.status).toBe(200);
    await writeFile(file, Buffer.from(await scaled.arrayBuffer()));
    expect(await ffprobe(file, 'stream=codec_name,width,height')).toMatchObject({ codec_name: 'mjpeg', width: '320', height: '180' });

    const none = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/snapshot.jpg?at=${iso(seg(0).start_ms - 5000)}`, { headers: vigil.auth });
    expect(none.status).toBe(404);
    expect(await none.json()).toMatchObject({ error: 'not_found', field: 'at' });
    expect(locks().every((n) => n === 0)).toBe(true);
  });

  it('when every media job stays busy for 10 s, a snapshot gets 503 with Retry-After; then it works again', async () => {
    const held = await Promise.all([0, 1, 2, 3].map(() => holdDownload(clipUrl(seg(0).start_ms, (segs.at(-1) as SegRow).end_ms), vigil.auth)));
    // Four clips in flight hold the four media job slots (and a read-lock each on every segment).
    await waitFor('four clips locking', () => locks().every((n) => n === 4), 2000, 20);
    const t0 = Date.now();
    const busy = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/snapshot.jpg?at=${iso(seg(1).start_ms)}`, { headers: vigil.auth });
    expect(busy.status).toBe(503);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(9500);
    expect(Number(busy.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await busy.json()).toMatchObject({ error: 'unavailable' });
    for (const h of held) h.abort();
    await waitFor('slots free', async () => (await recordingFds()).length === 0 && locks().every((n) => n === 0), 2000, 20);
    const ok = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/snapshot.jpg?at=${iso(seg(1).start_ms)}`, { headers: vigil.auth });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
  });

  it('bad input to either route gets a 400 naming the field, and changes nothing', async () => {
    const before = readCatalog(vigil.dataDir).events.length;
    const t = iso(seg(1).start_ms);
    const t2 = iso(seg(2).start_ms);
    const cases: Array<[string, number, string]> = [
      [`/cameras/cam1/clip.mp4?from=yesterday&to=${t2}`, 400, 'from'],
      [`/cameras/cam1/clip.mp4?from=${t}&to=2026-11-25T10:00:00`, 400, 'to'],
      [`/cameras/cam1/clip.mp4?to=${t2}`, 400, 'from'],
      [`/cameras/cam1/clip.mp4?from=${t}`, 400, 'to'],
      [`/cameras/cam1/clip.mp4?from=${t2}&to=${t}`, 400, 'from'],
      [`/cameras/cam1/clip.mp4?from=${t}&to=${t}`, 400, 'from'],
      [`/cameras/cam1/clip.mp4?from=${t}&to=${iso(seg(1).start_ms + 3_600_001)}`, 400, 'to'],
      [`/cameras/cam1/clip.mp4?from=${t}&to=${t2}&format=avi`, 400, 'format'],
      [`/cameras/nope/clip.mp4?from=${t}&to=${t2}`, 404, 'id'],
      [`/cameras/..%2Fetc/clip.mp4?from=${t}&to=${t2}`, 400, 'id'],
      ['/cameras/cam1/snapshot.jpg?at=noon', 400, 'at'],
      ['/cameras/cam1/snapshot.jpg', 400, 'at'],
      [`/cameras/cam1/snapshot.jpg?at=${t}&width=15`, 400, 'width'],
      [`/cameras/cam1/snapshot.jpg?at=${t}&width=3841`, 400, 'width'],
      [`/cameras/cam1/snapshot.jpg?at=${t}&width=320.5`, 400, 'width'],
      [`/cameras/cam1/snapshot.jpg?at=${t}&width=abc`, 400, 'width'],
      [`/cameras/cam1/snapshot.jpg?at=${t}&quality=1`, 400, 'quality'],
      [`/cameras/nope/snapshot.jpg?at=${t}`, 404, 'id'],
    ];
    for (const [path, status, field] of cases) {
      const res = await vigil.api(path);
      const body = (await res.json()) as { error: string; field?: string };
      expect({ path, status: res.status, field: body.field }).toEqual({ path, status, field });
    }
    expect(readCatalog(vigil.dataDir).events.length).toBe(before);
    expect(locks().every((n) => n === 0)).toBe(true);
    expect([...(await jobFfmpegs('concat')), ...(await jobFfmpegs('mjpeg'))]).toEqual([]);
  });

  // Last: it damages the footage.
  it('ffmpeg failing mid-clip cuts the response off (no complete-looking 200) and logs its stderr', async () => {
    const last = segs.at(-1) as SegRow;
    await writeFile(join(vigil.dataDir, last.path), Buffer.alloc(64 * 1024, 0x5a));
    const res = await fetch(clipUrl(seg(0).start_ms, last.end_ms), { headers: vigil.auth });
    expect(res.status).toBe(200);
    await expect(res.arrayBuffer()).rejects.toThrow();
    await waitFor('failure logged', () => vigil.logs().includes('clip export failed mid-stream'), 2000, 20);
    const line = vigil.logs().split('\n').find((l) => l.includes('clip export failed mid-stream')) ?? '';
    expect(JSON.parse(line).stderr).toMatch(/\S/);
    // Failing before its first byte it is an error response, not a video.
    const early = await fetch(clipUrl(last.start_ms, last.end_ms), { headers: vigil.auth });
    expect(early.status).toBe(500);
    expect(early.headers.get('content-disposition')).toBeNull();
    expect(await early.json()).toMatchObject({ error: 'internal' });
    expect(locks().every((n) => n === 0)).toBe(true);
    expect(await jobFfmpegs('concat')).toEqual([]);
  });
});
