/**
 * The newest footage is reviewable while its segment is still being written: the playlist lists the
 * open file's whole fragments (each at its wall-clock start on the run's time mapping), their bytes
 * come from the open-segments route, and once the file is indexed the same URI serves the same bytes
 * from its segment. Real ffmpeg recording from the real GStreamer RTSP server.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { readCatalog } from '../support/footage.js';
import { removeDir, startVigil, tempDir, waitFor, type TestVigil } from '../support/harness.js';

const run = promisify(execFile);
const iso = (ms: number) => new Date(ms).toISOString();
const SEGMENT_SECONDS = 12;

interface Part {
  mapUri: string;
  pdtMs: number;
  durationMs: number;
  start: number;
  length: number;
  uri: string;
}

/** Every media entry of a playlist with the EXT-X-MAP and PDT in force for it. */
function parts(text: string): Part[] {
  const out: Part[] = [];
  let map = '';
  let pdt = NaN;
  let dur = NaN;
  let range = [0, 0];
  for (const line of text.trim().split('\n')) {
    if (line.startsWith('#EXT-X-MAP:')) map = /URI="([^"]+)"/.exec(line)?.[1] ?? '';
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = Date.parse(line.slice(25));
    else if (line.startsWith('#EXTINF:')) dur = Math.round(Number.parseFloat(line.slice(8)) * 1000);
    else if (line.startsWith('#EXT-X-BYTERANGE:')) {
      const [len, at] = line.slice(17).split('@').map(Number);
      range = [at ?? 0, len ?? 0];
    } else if (!line.startsWith('#')) out.push({ mapUri: map, pdtMs: pdt, durationMs: dur, start: range[0] ?? 0, length: range[1] ?? 0, uri: line });
  }
  return out;
}

describe('the open segment is reviewable', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  let work: string;
  const base = () => `${vigil.app.url}/api/v1/cameras/cam1/`;
  const playlist = async (fromMs: number, toMs: number) => {
    const res = await fetch(`${base()}playback.m3u8?from=${encodeURIComponent(iso(fromMs))}&to=${encodeURIComponent(iso(toMs))}`, { headers: vigil.auth });
    return { status: res.status, text: await res.text() };
  };
  const bytes = async (uri: string, start: number, length: number) => {
    const res = await fetch(new URL(uri, base()), { headers: { ...vigil.auth, range: `bytes=${start}-${start + length - 1}` } });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  };

  beforeAll(async () => {
    work = await tempDir('vigil-open-review-');
    server = await RtspServer.start({ mounts: [{ name: 'cam1', fps: 15 }] });
    vigil = await startVigil({ cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: SEGMENT_SECONDS }] });
  }, 60_000);

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    await removeDir(work);
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('lists the open file fragment by fragment, seconds behind live, and serves its bytes (the same once indexed)', async () => {
    // About 5 s into the first file: no row exists yet, so before this change the playlist was a 404.
    await waitFor('recording', async () => ((await (await vigil.api('/cameras/cam1/status')).json()) as { state: string }).state === 'recording', 30_000, 200);
    await new Promise((r) => setTimeout(r, 5000));
    expect(readCatalog(vigil.dataDir).segments).toHaveLength(0);
    const askedAt = Date.now();
    const pl = await playlist(askedAt - 60_000, askedAt);
    expect(pl.status).toBe(200);
    const list = parts(pl.text);
    expect(list.length).toBeGreaterThanOrEqual(3);
    const uri = list[0]!.uri;
    expect(uri).toMatch(/^\.\.\/\.\.\/cameras\/cam1\/open-segments\/[a-z0-9]+-000000\/media\.mp4$/);
    expect(new Set(list.map((p) => p.uri))).toEqual(new Set([uri]));
    // One fragment after another: contiguous bytes and wall-clock instants (one GOP each, 1 s).
    for (let i = 1; i < list.length; i++) {
      expect(list[i]!.start).toBe(list[i - 1]!.start + list[i - 1]!.length);
      expect(Math.abs(list[i]!.pdtMs - (list[i - 1]!.pdtMs + list[i - 1]!.durationMs))).toBeLessThanOrEqual(2);
    }
    // The newest footage is reviewable within a couple of GOPs, not a segment (12 s) later.
    const newestEnd = list.at(-1)!.pdtMs + list.at(-1)!.durationMs;
    expect(askedAt - newestEnd).toBeLessThan(4000);

    // The bytes: init + every listed fragment make a playable MP4 with the listed duration.
    const init = await bytes(uri, 0, list[0]!.start);
    expect(init.status).toBe(206);
    expect(init.body.toString('latin1', 4, 8)).toBe('ftyp');
    const media = await Promise.all(list.map((p) => bytes(uri, p.start, p.length)));
    for (const m of media) {
      expect(m.status).toBe(206);
      expect(m.body.toString('latin1', 4, 8)).toBe('moof');
    }
    const file = join(work, 'open.mp4');
    await writeFile(file, Buffer.concat([init.body, ...media.map((m) => m.body)]));
    const probe = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]);
    const listedMs = list.reduce((sum, p) => sum + p.durationMs, 0);
    expect(Number(probe.stdout.trim())).toBe(Math.round((listedMs / 1000) * 15));

    // A snapshot inside the open segment: the frame at that instant (no row yet; before, a 404).
    const shotAt = list[1]!.pdtMs + 300;
    const shot = await fetch(`${base()}snapshot.jpg?at=${encodeURIComponent(iso(shotAt))}`, { headers: vigil.auth });
    expect(shot.status).toBe(200);
    const jpeg = Buffer.from(await shot.arrayBuffer());
    expect(jpeg[0]).toBe(0xff);
    expect(jpeg[1]).toBe(0xd8);
    const frameAt = Date.parse(shot.headers.get('x-vigil-frame-time')!);
    expect(Math.abs(frameAt - shotAt)).toBeLessThanOrEqual(100);
    // Not written yet: a clear 404.
    const ahead = await fetch(`${base()}snapshot.jpg?at=${encodeURIComponent(iso(Date.now() + 30_000))}`, { headers: vigil.auth });
    expect(ahead.status).toBe(404);

    // Once indexed, the same URI and range are the same bytes (now the segment's, read-locked).
    const name = /open-segments\/([a-z0-9]+-\d{6})\//.exec(uri)![1]!;
    await waitFor('the first file indexed', () => readCatalog(vigil.dataDir).segments.some((s) => s.path.endsWith(`-${name}.mp4`)), 30_000, 200);
    const again = await bytes(uri, list[1]!.start, list[1]!.length);
    expect(again.status).toBe(206);
    expect(again.body.equals(media[1]!.body)).toBe(true);

    // The indexed row starts where the open file was placed, and the next open file follows it.
    const row = readCatalog(vigil.dataDir).segments.find((s) => s.path.endsWith(`-${name}.mp4`))!;
    expect(Math.abs(row.start_ms - list[0]!.pdtMs)).toBeLessThanOrEqual(300);
    await new Promise((r) => setTimeout(r, 3000));
    const later = parts((await playlist(row.start_ms, Date.now())).text);
    const next = later.filter((p) => p.uri.includes('/open-segments/'));
    expect(next.length).toBeGreaterThan(0);
    expect(later[0]!.uri).toMatch(/^\.\.\/\.\.\/segments\/\d+\/media\.mp4$/);
    expect(Math.abs(next[0]!.pdtMs - row.end_ms)).toBeLessThanOrEqual(300);

    // Each file read from its start is one playback audit row naming the camera.
    const db = new Database(join(vigil.dataDir, 'vigil.db'), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare("SELECT target, outcome FROM audit_log WHERE action = 'footage.playback' AND target = 'camera:cam1'").all();
      expect(rows.length).toBeGreaterThanOrEqual(2); // the playlist and the init read
    } finally {
      db.close();
    }
  }, 90_000);

  it('refuses what it cannot serve, naming the field', async () => {
    const pl = parts((await playlist(Date.now() - 60_000, Date.now())).text);
    const open = pl.find((p) => p.uri.includes('/open-segments/'))!;
    const url = (name: string) => new URL(`open-segments/${name}/media.mp4`, base());
    const bad = await fetch(url('Not-A-File'), { headers: { ...vigil.auth, range: 'bytes=0-10' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { field: string }).field).toBe('name');
    const whole = await fetch(new URL(open.uri, base()), { headers: vigil.auth });
    expect(whole.status).toBe(400);
    expect(((await whole.json()) as { field: string }).field).toBe('range');
    const gone = await fetch(url('zzzzzz-000999'), { headers: { ...vigil.auth, range: 'bytes=0-10' } });
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as { field: string }).field).toBe('name');
    const past = await bytes(open.uri, 1e12, 10);
    expect(past.status).toBe(416);
    const noCam = await fetch(`${vigil.app.url}/api/v1/cameras/nocam/open-segments/abc-000001/media.mp4`, { headers: { ...vigil.auth, range: 'bytes=0-10' } });
    expect(noCam.status).toBe(404);
    const anon = await fetch(new URL(open.uri, base()), { headers: { range: 'bytes=0-10' } });
    expect(anon.status).toBe(401);
  }, 30_000);
});
