import { execFile } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import { querySql, readCatalog, type SegRow } from '../support/footage.js';
import { removeDir, startVigil, tempDir, waitFor, type TestVigil } from '../support/harness.js';

const run = promisify(execFile);
const FPS = 15;
const iso = (ms: number) => new Date(ms).toISOString();

interface Entry {
  discontinuity: boolean;
  mapUri: string;
  mapRange: string;
  pdt: string;
  extinf: string;
  byteRange: string;
  uri: string;
}

/** The playlist's header tags and its segments (tags between one URI and the next belong to the next). */
function parsePlaylist(text: string): { header: string[]; entries: Entry[]; end: boolean } {
  const lines = text.trim().split('\n');
  const header: string[] = [];
  const entries: Entry[] = [];
  let tags: string[] = [];
  for (const line of lines) {
    if (line === '#EXT-X-ENDLIST') continue;
    if (!line.startsWith('#')) {
      const tag = (name: string) => tags.find((t) => t.startsWith(`${name}:`))?.slice(name.length + 1) ?? '';
      const map = /^URI="([^"]+)",BYTERANGE="([^"]+)"$/.exec(tag('#EXT-X-MAP'));
      entries.push({
        discontinuity: tags.includes('#EXT-X-DISCONTINUITY'),
        mapUri: map?.[1] ?? '',
        mapRange: map?.[2] ?? '',
        pdt: tag('#EXT-X-PROGRAM-DATE-TIME'),
        extinf: tag('#EXTINF'),
        byteRange: tag('#EXT-X-BYTERANGE'),
        uri: line,
      });
      tags = [];
    } else if (entries.length === 0 && !/^#EXT(INF|-X-(MAP|PROGRAM-DATE-TIME|BYTERANGE|DISCONTINUITY)\b)/.test(line)) {
      header.push(line);
    } else {
      tags.push(line);
    }
  }
  return { header, entries, end: lines.at(-1) === '#EXT-X-ENDLIST' };
}

/** ftyp + moov, measured from the file's own box headers. */
function initLength(file: Buffer): number {
  expect(file.toString('latin1', 4, 8)).toBe('ftyp');
  const ftyp = file.readUInt32BE(0);
  expect(file.toString('latin1', ftyp + 4, ftyp + 8)).toBe('moov');
  return ftyp + file.readUInt32BE(ftyp);
}

/** A GET read until its first chunk, then paused: the client is there but takes nothing more. */
function holdDownload(url: string, headers: Record<string, string>): Promise<{ status: number; abort: () => void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      res.once('data', () => {
        res.pause();
        resolve({ status: res.statusCode ?? 0, abort: () => req.destroy() });
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
    });
  });
}

describe('recorded playback over HLS', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  let segs: SegRow[];
  let gapEndId: number;
  let dbFile: string;
  let outside: string;
  /** Forged rows: a big file inside the recordings (to hold a download open) and two paths leading out. */
  const forged = { big: 0, traversal: 0, symlink: 0 };
  let bigStartMs: number;
  let traversalStartMs: number;

  const playlistUrl = (from: number, to: number, camera = 'cam1') =>
    `${vigil.app.url}/api/v1/cameras/${camera}/playback.m3u8?from=${encodeURIComponent(iso(from))}&to=${encodeURIComponent(iso(to))}`;
  const mediaUrl = (id: number | string) => `${vigil.app.url}/api/v1/segments/${id}/media.mp4`;
  const get = (url: string, headers: Record<string, string> = {}, method = 'GET') => fetch(url, { method, headers: { ...vigil.auth, ...headers } });
  const locks = (ids: number[]): number[] => {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      return ids.map((id) => (db.prepare('SELECT locked FROM segments WHERE id = ?').get(id) as { locked: number }).locked);
    } finally {
      db.close();
    }
  };

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam1', fps: FPS }] });
    const port = server.port;
    vigil = await startVigil({ cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }] });
    dbFile = join(vigil.dataDir, 'vigil.db');
    const camSegments = () => readCatalog(vigil.dataDir).segments.filter((s) => s.camera_id === 'cam1');
    await waitFor('3 segments', () => camSegments().length >= 3, 30_000, 200);

    // A hole: the camera goes away for ~5 s and comes back (a new recorder run).
    const downAt = Date.now();
    await server.kill();
    await waitFor('the recorder to notice', async () => {
      const s = (await (await vigil.api('/cameras/cam1/status')).json()) as { state: string };
      return s.state !== 'recording';
    }, 20_000);
    await sleep(Math.max(0, 5000 - (Date.now() - downAt)));
    server = await RtspServer.start({ port, mounts: [{ name: 'cam1', fps: FPS }] });
    const before = camSegments().length;
    await waitFor('3 segments after the hole', () => camSegments().length >= before + 3, 40_000, 200);
    // Recording stops (the PATCH returns once the last segment is indexed): the footage is fixed from here.
    const res = await vigil.api('/cameras/cam1', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"enabled":false}' });
    expect(res.status).toBe(200);
    await server.stop();
    segs = camSegments();
    const gaps = readCatalog(vigil.dataDir).gaps;
    expect(gaps).toHaveLength(1);
    const gapEnd = segs.find((s) => s.start_ms === gaps[0]?.gap_end_ms);
    expect(gapEnd).toBeDefined();
    gapEndId = gapEnd!.id;

    // Forged rows, hours before the footage: what the catalog never holds, written as an attacker with
    // database access would.
    const work = await tempDir('vigil-playback-outside-');
    outside = join(work, 'secret.bin');
    await writeFile(outside, 'SECRET-OUTSIDE-THE-RECORDINGS');
    const camDir = join(vigil.dataDir, 'recordings', 'cam1');
    await mkdir(camDir, { recursive: true });
    await symlink(outside, join(camDir, '20200101T000000Z-link.mp4'));
    // 48 MiB: more than the loopback socket buffers hold, so a paused client keeps the file open.
    await writeFile(join(camDir, '20200101T000000Z-big.mp4'), Buffer.alloc(48 * 1024 * 1024, 7));
    const first = segs[0]!.start_ms;
    bigStartMs = first - 2 * 3600_000;
    traversalStartMs = first - 3 * 3600_000;
    const db = new Database(dbFile, { fileMustExist: true });
    try {
      const insert = db.prepare(
        `INSERT INTO segments (camera_id, path, start_ms, end_ms, duration_ms, size_bytes, source, indexed_at_ms)
         VALUES ('cam1', ?, ?, ?, 2000, ?, 'live', ?) RETURNING id`,
      );
      const add = (path: string, start: number, size: number) => (insert.get(path, start, start + 2000, size, Date.now()) as { id: number }).id;
      forged.big = add('recordings/cam1/20200101T000000Z-big.mp4', bigStartMs, 48 * 1024 * 1024);
      forged.traversal = add(`recordings/cam1/../../../${work.split('/').slice(-1)[0]}/secret.bin`, traversalStartMs, 29);
      forged.symlink = add('recordings/cam1/20200101T000000Z-link.mp4', traversalStartMs + 2000, 29);
    } finally {
      db.close();
    }
  }, 150_000);

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
    if (outside) await removeDir(join(outside, '..'));
  });

  it('lists every segment of the range with exact byte ranges, its wall-clock start, and a discontinuity across the hole', async () => {
    const from = segs[0]!.start_ms + 500;
    const to = segs.at(-1)!.end_ms;
    const res = await get(playlistUrl(from, to));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/vnd\.apple\.mpegurl/);
    expect(res.headers.get('cache-control')).toBe('private, no-store');
    const text = await res.text();
    const p = parsePlaylist(text);
    expect(p.end).toBe(true);
    expect(p.header[0]).toBe('#EXTM3U');
    for (const tag of ['#EXT-X-VERSION:7', '#EXT-X-PLAYLIST-TYPE:VOD', '#EXT-X-INDEPENDENT-SEGMENTS']) expect(p.header).toContain(tag);
    const target = Number(p.header.find((h) => h.startsWith('#EXT-X-TARGETDURATION:'))?.split(':')[1]);
    expect(target).toBeGreaterThanOrEqual(Math.max(...segs.map((s) => Math.round(s.duration_ms / 1000))));
    expect(p.header).toContain('#EXT-X-START:TIME-OFFSET=0.500,PRECISE=YES');

    expect(p.entries.map((e) => e.uri)).toEqual(segs.map((s) => `../../segments/${s.id}/media.mp4`));
    for (const [i, s] of segs.entries()) {
      const e = p.entries[i]!;
      const file = await readFile(join(vigil.dataDir, s.path));
      const init = initLength(file);
      expect(e.mapUri).toBe(e.uri);
      expect(e.mapRange).toBe(`${init}@0`);
      expect(e.byteRange).toBe(`${file.length - init}@${init}`);
      expect(e.pdt).toBe(iso(s.start_ms));
      expect(e.extinf).toBe(`${(s.duration_ms / 1000).toFixed(3)},`);
    }
    // The hole: a discontinuity, and the wall clock jumps by more than 3 s.
    const k = segs.findIndex((s) => s.id === gapEndId);
    expect(k).toBeGreaterThan(0);
    expect(p.entries[k]!.discontinuity).toBe(true);
    expect(Date.parse(p.entries[k]!.pdt) - (Date.parse(p.entries[k - 1]!.pdt) + segs[k - 1]!.duration_ms)).toBeGreaterThan(3000);
    expect(p.entries[0]!.discontinuity).toBe(false);

    // The URIs are relative to the playlist and resolve to the media route.
    expect(new URL(p.entries[0]!.uri, playlistUrl(from, to)).href).toBe(mediaUrl(segs[0]!.id));
    // Reading the playlist is audited.
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare("SELECT * FROM audit_log WHERE action = 'footage.playback' ORDER BY id DESC LIMIT 1").get() as
        | { target: string; outcome: string; status_code: number }
        | undefined;
      expect(row).toMatchObject({ target: 'camera:cam1', outcome: 'success', status_code: 200 });
    } finally {
      db.close();
    }
  });

  it('a range inside one segment lists just it; a range with no footage is 404', async () => {
    const s = segs[1]!;
    const p = parsePlaylist(await (await get(playlistUrl(s.start_ms + 100, s.start_ms + 200))).text());
    expect(p.entries.map((e) => e.uri)).toEqual([`../../segments/${s.id}/media.mp4`]);

    const none = await get(playlistUrl(segs[0]!.start_ms - 60_000, segs[0]!.start_ms - 1000));
    expect(none.status).toBe(404);
    expect(await none.json()).toEqual({ error: 'not_found', message: expect.any(String), field: 'from' });
  });

  it('ffmpeg plays the whole playlist over HTTP, and its length is the listed length', async () => {
    const from = segs[0]!.start_ms;
    const to = segs.at(-1)!.end_ms;
    const text = await (await get(playlistUrl(from, to))).text();
    const listedS = parsePlaylist(text).entries.reduce((sum, e) => sum + Number(e.extinf.replace(',', '')), 0);
    const headers = Object.entries(vigil.auth).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const { stderr } = await run('ffmpeg', ['-hide_banner', '-nostdin', '-headers', headers, '-i', playlistUrl(from, to), '-c', 'copy', '-f', 'null', '-'], {
      timeout: 90_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    // Every file was fetched and demuxed (with the headers: without them each request would be a 401).
    expect(stderr).not.toMatch(/HTTP error|Server returned|Invalid data/i);
    for (const s of segs) expect(stderr).toContain(`/api/v1/segments/${s.id}/media.mp4`);
    // Stream copy counts every frame; a decoding ffmpeg would drop the frames of each file after the first, as
    // its HLS reader passes each file's timestamps (restarting at 0) through unchanged.
    const frames = Number([...stderr.matchAll(/frame=\s*(\d+)/g)].at(-1)?.[1]);
    const decodedS = frames / FPS;
    // Each file holds its row's media duration: the total agrees to a frame per file.
    expect(Math.abs(decodedS - listedS)).toBeLessThanOrEqual(segs.length / FPS);
    expect(decodedS).toBeGreaterThan(listedS * 0.95);
  });

  it('serves the exact bytes of a segment file: whole, byte ranges, HEAD, and 416 past the end', async () => {
    const s = segs[2]!;
    const file = await readFile(join(vigil.dataDir, s.path));
    const init = initLength(file);

    const whole = await get(mediaUrl(s.id));
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('video/mp4');
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.headers.get('content-length')).toBe(String(file.length));
    expect(Buffer.from(await whole.arrayBuffer()).equals(file)).toBe(true);

    const initPart = await get(mediaUrl(s.id), { range: `bytes=0-${init - 1}` });
    expect(initPart.status).toBe(206);
    expect(initPart.headers.get('content-range')).toBe(`bytes 0-${init - 1}/${file.length}`);
    expect(Buffer.from(await initPart.arrayBuffer()).equals(file.subarray(0, init))).toBe(true);

    const media = await get(mediaUrl(s.id), { range: `bytes=${init}-${file.length - 1}` });
    expect(media.status).toBe(206);
    expect(media.headers.get('content-length')).toBe(String(file.length - init));
    expect(Buffer.from(await media.arrayBuffer()).equals(file.subarray(init))).toBe(true);

    const middle = await get(mediaUrl(s.id), { range: 'bytes=1000-1999' });
    expect(Buffer.from(await middle.arrayBuffer()).equals(file.subarray(1000, 2000))).toBe(true);
    const open = await get(mediaUrl(s.id), { range: `bytes=${file.length - 10}-` });
    expect(open.headers.get('content-range')).toBe(`bytes ${file.length - 10}-${file.length - 1}/${file.length}`);
    expect(Buffer.from(await open.arrayBuffer()).equals(file.subarray(file.length - 10))).toBe(true);
    const suffix = await get(mediaUrl(s.id), { range: 'bytes=-100' });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(file.subarray(file.length - 100))).toBe(true);

    const past = await get(mediaUrl(s.id), { range: `bytes=${file.length}-` });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${file.length}`);
    expect(await past.json()).toMatchObject({ error: 'range_not_satisfiable', field: 'range' });

    const head = await get(mediaUrl(s.id), {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(file.length));
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    const headRange = await get(mediaUrl(s.id), { range: 'bytes=0-99' }, 'HEAD');
    expect(headRange.status).toBe(206);
    expect(headRange.headers.get('content-length')).toBe('100');

    // Each response's lock is released as its file stream closes, just after the client has the last byte.
    await waitFor('every read-lock released', () => locks(segs.map((x) => x.id)).every((n) => n === 0), 5000, 20);
  });

  it('audits footage access per file played, not per byte range; a whole-file download needs export', async () => {
    const s = segs[1]!;
    const size = (await readFile(join(vigil.dataDir, s.path))).length;
    const { key: viewerKey } = await vigil.app.auth.createKey({ name: 'viewer-key', role: 'viewer' }, null);
    const asViewer = (headers: Record<string, string>, method = 'GET') => fetch(mediaUrl(s.id), { method, headers: { authorization: `Bearer ${viewerKey}`, ...headers } });
    const audit = (requestId: string) => querySql(vigil.dataDir, `SELECT action, outcome, target FROM audit_log WHERE request_id = '${requestId}'`);

    // Playback: the first range of a file is one audit row; later ranges and HEADs add none.
    expect((await asViewer({ range: 'bytes=0-99', 'x-request-id': 'pb-first' })).status).toBe(206);
    expect(audit('pb-first')).toEqual([{ action: 'footage.playback', outcome: 'success', target: `segment:${s.id}` }]);
    expect((await asViewer({ range: 'bytes=100-999', 'x-request-id': 'pb-later' })).status).toBe(206);
    expect((await asViewer({ 'x-request-id': 'pb-head' }, 'HEAD')).status).toBe(200);
    expect([...audit('pb-later'), ...audit('pb-head')]).toEqual([]);

    // The whole file, with or without a Range that covers it, is a download: a viewer may not.
    for (const [id, headers] of [['dl-plain', {}], ['dl-range', { range: `bytes=0-${size - 1}` }], ['dl-open', { range: 'bytes=0-' }]] as const) {
      const r = await asViewer({ ...headers, 'x-request-id': id });
      expect(r.status, id).toBe(403);
      expect(audit(id), id).toEqual([{ action: 'footage.download', outcome: 'denied', target: `segment:${s.id}` }]);
    }
    // An admin (export) may, and it is audited as such.
    const whole = await get(mediaUrl(s.id), { 'x-request-id': 'dl-admin' });
    expect(whole.status).toBe(200);
    expect((await whole.arrayBuffer()).byteLength).toBe(size);
    expect(audit('dl-admin')).toEqual([{ action: 'footage.download', outcome: 'success', target: `segment:${s.id}` }]);
    await waitFor('the read-lock released', () => locks([s.id])[0] === 0, 5000, 20);
  });

  it('a media download holds its segment\'s read-lock until it ends or the client goes away', async () => {
    const held = await holdDownload(mediaUrl(forged.big), vigil.auth);
    expect(held.status).toBe(200);
    await sleep(300);
    expect(locks([forged.big])).toEqual([1]);
    // A second reader counts on top; its end does not release the first one's lock.
    try {
      const second = await get(mediaUrl(forged.big), { range: 'bytes=0-1023' });
      expect((await second.arrayBuffer()).byteLength).toBe(1024);
      await waitFor('the second reader\'s lock to be released', () => locks([forged.big])[0] === 1, 5000, 50);
      await sleep(200);
      expect(locks([forged.big])).toEqual([1]);
    } finally {
      held.abort();
    }
    await waitFor('the lock to be released', () => locks([forged.big])[0] === 0, 5000, 50);
  });

  it('never serves a row whose path leads outside the recordings folder, nor lists it', async () => {
    for (const id of [forged.traversal, forged.symlink]) {
      const res = await get(mediaUrl(id));
      expect(res.status).toBe(500);
      const body = await res.text();
      expect(body).not.toContain('SECRET');
      expect(JSON.parse(body)).toMatchObject({ error: 'internal' });
      const ranged = await get(mediaUrl(id), { range: 'bytes=0-5' });
      expect(await ranged.text()).not.toContain('SECRET');
    }
    expect(vigil.logs()).toContain('outside the recordings folder');
    const res = await get(playlistUrl(traversalStartMs, traversalStartMs + 4000));
    expect(res.status).toBe(404);
    expect(locks([forged.traversal, forged.symlink])).toEqual([0, 0]);
  });

  it('bad input is a 400 naming the field; unknown cameras and segments are 404', async () => {
    const t = segs[0]!.start_ms;
    const url = (q: string) => `${vigil.app.url}/api/v1/cameras/cam1/playback.m3u8?${q}`;
    const cases: Array<[string, string]> = [
      [url(`from=${iso(t)}&to=${iso(t)}`), 'from'],
      [url(`from=${iso(t + 1000)}&to=${iso(t)}`), 'from'],
      [url(`from=${iso(t)}&to=${iso(t + 24 * 3600_000 + 1000)}`), 'to'],
      [url(`from=yesterday&to=${iso(t)}`), 'from'],
      [url(`from=${iso(t)}&to=2026-11-25T10:00:00`), 'to'],
      [url(`from=${iso(t)}`), 'to'],
      [url(`from=${iso(t)}&to=${iso(t + 1000)}&extra=1`), 'extra'],
    ];
    for (const [u, field] of cases) {
      const res = await get(u);
      expect(res.status, u).toBe(400);
      expect(await res.json(), u).toMatchObject({ error: 'invalid_argument', field });
    }
    const unknownCamera = await get(playlistUrl(t, t + 1000, 'nope'));
    expect(unknownCamera.status).toBe(404);
    expect(await unknownCamera.json()).toMatchObject({ error: 'not_found', field: 'id' });

    const unknown = await get(mediaUrl(999_999));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'not_found', message: 'segment 999999 not found', field: 'id' });
    const bad = await get(mediaUrl('abc'));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_argument', field: 'id' });
    // Without credentials neither the playlist nor the media is served.
    expect((await fetch(playlistUrl(t, t + 1000))).status).toBe(401);
    expect((await fetch(mediaUrl(segs[0]!.id))).status).toBe(401);
  });
});
