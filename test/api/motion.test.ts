import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertMotionInterval } from '../../src/db/motion.repo.js';
import { injectVigil, type InjectVigil } from '../support/http-inject.js';

// The motion read API over the real app and catalog (intervals written by the detector's own repository).
describe('motion API: per camera, search across cameras, thumbnails, scopes', () => {
  let vigil: InjectVigil;
  let scoped: string;
  const t0 = Date.parse('2026-12-05T08:00:00Z');
  const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
  const ids: number[] = [];

  beforeAll(async () => {
    vigil = await injectVigil({
      cameras: [
        { id: 'door', main_url: 'rtsp://127.0.0.1:9/a', enabled: false },
        { id: 'yard', main_url: 'rtsp://127.0.0.1:9/b', enabled: false },
      ],
    });
    const add = async (cameraId: string, startS: number, endS: number, peakScore: number, zones: string[], jpeg = true) =>
      ids.push(await insertMotionInterval(vigil.app.db, { cameraId, startMs: t0 + startS * 1000, endMs: t0 + endS * 1000, peakScore, peakAtMs: t0 + startS * 1000 + 500, zones, jpeg: jpeg ? JPEG : null }, t0));
    await add('door', 10, 20, 4.5, ['porch']);
    await add('door', 60, 75, 30, ['porch', 'steps']);
    await add('door', 120, 121, 1.2, [], false);
    await add('yard', 30, 50, 12, ['gate']);
    scoped = await vigil.createKey({ name: 'door-only', role: 'viewer', cameras: ['door'] });
  });
  afterAll(async () => {
    await vigil.close();
  });

  const iso = (s: number) => new Date(t0 + s * 1000).toISOString();

  it('lists a camera\'s intervals overlapping the range, oldest first, with zones and thumbnail links; a zone filters', async () => {
    const res = await vigil.api('GET', `/cameras/door/motion?from=${iso(15)}&to=${iso(200)}`);
    expect(res.status).toBe(200);
    const list = res.json['intervals'] as Array<Record<string, unknown>>;
    expect(list.map((m) => m['start'])).toEqual([iso(10), iso(60), iso(120)]);
    expect(list[1]).toEqual({
      id: ids[1], camera_id: 'door', start: iso(60), end: iso(75), peak_score: 30, peak_at: new Date(t0 + 60_500).toISOString(),
      zones: ['porch', 'steps'], thumbnail_url: `/api/v1/motion/${ids[1]}/thumbnail.jpg`,
    });
    expect(list[2]!['thumbnail_url']).toBeNull();
    const steps = await vigil.api('GET', `/cameras/door/motion?from=${iso(0)}&to=${iso(200)}&zone=steps`);
    expect((steps.json['intervals'] as unknown[]).length).toBe(1);
    const before = await vigil.api('GET', `/cameras/door/motion?from=${iso(21)}&to=${iso(59)}`);
    expect(before.json['intervals']).toEqual([]);
  });

  it('pages a camera\'s intervals with limit and cursor: every one exactly once, in order', async () => {
    const seen: unknown[] = [];
    let cursor: string | null = null;
    do {
      const res = await vigil.api('GET', `/cameras/door/motion?from=${iso(0)}&to=${iso(200)}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const page = res.json['intervals'] as Array<{ start: string }>;
      expect(page.length).toBeLessThanOrEqual(2);
      seen.push(...page.map((m) => m.start));
      cursor = res.json['next_cursor'] as string | null;
    } while (cursor);
    expect(seen).toEqual([iso(10), iso(60), iso(120)]);
  });

  it('counts motion per bucket (density for a wide timeline): counts, extent, peak and zones per bucket, empty buckets left out', async () => {
    const res = await vigil.api('GET', `/cameras/door/motion?from=${iso(0)}&to=${iso(200)}&bucket_seconds=100`);
    expect(res.status).toBe(200);
    expect(res.json['intervals']).toBeUndefined();
    expect(res.json['bucket_seconds']).toBe(100);
    expect(res.json['buckets']).toEqual([
      { bucket_start: iso(0), start: iso(10), end: iso(75), count: 2, peak_score: 30, zones: ['porch', 'steps'] },
      { bucket_start: iso(100), start: iso(120), end: iso(121), count: 1, peak_score: 1.2, zones: [] },
    ]);
    // The counts equal the intervals listed, bucket by bucket; a zone filters as for the list.
    const fine = await vigil.api('GET', `/cameras/door/motion?from=${iso(0)}&to=${iso(200)}&bucket_seconds=1`);
    expect((fine.json['buckets'] as Array<{ count: number }>).map((b) => b.count)).toEqual([1, 1, 1]);
    const steps = await vigil.api('GET', `/cameras/door/motion?from=${iso(0)}&to=${iso(200)}&bucket_seconds=100&zone=steps`);
    expect((steps.json['buckets'] as Array<{ count: number }>).map((b) => b.count)).toEqual([1]);
    // An interval that began before `from` counts in the first bucket.
    const late = await vigil.api('GET', `/cameras/door/motion?from=${iso(65)}&to=${iso(200)}&bucket_seconds=30`);
    expect((late.json['buckets'] as Array<{ bucket_start: string; start: string }>)[0]).toMatchObject({ bucket_start: iso(65), start: iso(60) });
  });

  it('a busy day: the buckets count exactly what the list holds, and the list\'s pages hold every interval once', async () => {
    // 400 intervals of the yard camera two days later (out of the other tests' ranges), irregular, some in zones.
    const day = t0 + 2 * 86_400_000;
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let at = day;
    let firstStart = 0;
    for (let i = 0; i < 400; i++) {
      at += 5000 + Math.floor(rnd() * 200_000);
      const zones = ['gate', 'lawn'].filter(() => rnd() < 0.4);
      const start = at;
      firstStart ||= start;
      at += 1000 + Math.floor(rnd() * 30_000);
      await insertMotionInterval(vigil.app.db, { cameraId: 'yard', startMs: start, endMs: at, peakScore: Math.round(rnd() * 10_000) / 100, peakAtMs: start, zones, jpeg: null }, t0);
    }
    // From inside the first interval (it counts in the first bucket) to before the last ends.
    const fromMs = firstStart + 500;
    const toMs = at - 10_000;
    const q = `from=${new Date(fromMs).toISOString()}&to=${new Date(toMs).toISOString()}`;
    type I = { id: number; start: string; end: string; peak_score: number; zones: string[] };
    const listed: I[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await vigil.api('GET', `/cameras/yard/motion?${q}&limit=37${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      listed.push(...(res.json['intervals'] as I[]));
      cursor = res.json['next_cursor'] as string | null;
      pages++;
    } while (cursor);
    const whole = (await vigil.api('GET', `/cameras/yard/motion?${q}`)).json['intervals'] as I[];
    expect(whole.length).toBeGreaterThan(300);
    expect(listed.map((m) => m.id)).toEqual(whole.map((m) => m.id));
    expect(new Set(listed.map((m) => m.id)).size).toBe(listed.length);
    expect(pages).toBe(Math.ceil(whole.length / 37));
    expect(Date.parse(whole[0]!.start)).toBeLessThan(fromMs);

    for (const [bucketS, zone] of [[600, undefined], [3600, undefined], [900, 'gate']] as const) {
      const res = await vigil.api('GET', `/cameras/yard/motion?${q}&bucket_seconds=${bucketS}${zone ? `&zone=${zone}` : ''}`);
      expect(res.status).toBe(200);
      const buckets = res.json['buckets'] as Array<{ bucket_start: string; start: string; end: string; count: number; peak_score: number; zones: string[] }>;
      // The same, counted directly from the list.
      const want = new Map<number, I[]>();
      for (const m of whole.filter((x) => !zone || x.zones.includes(zone))) {
        const b = Math.max(0, Math.floor((Date.parse(m.start) - fromMs) / (bucketS * 1000)));
        want.set(b, [...(want.get(b) ?? []), m]);
      }
      expect(buckets.map((b) => (Date.parse(b.bucket_start) - fromMs) / (bucketS * 1000))).toEqual([...want.keys()]);
      expect(buckets.reduce((n, b) => n + b.count, 0)).toBe([...want.values()].flat().length);
      for (const b of buckets) {
        const ms = want.get((Date.parse(b.bucket_start) - fromMs) / (bucketS * 1000))!;
        expect(b).toEqual({
          bucket_start: b.bucket_start,
          start: ms[0]!.start,
          end: new Date(Math.max(...ms.map((m) => Date.parse(m.end)))).toISOString(),
          count: ms.length,
          peak_score: Math.max(...ms.map((m) => m.peak_score)),
          zones: [...new Set(ms.flatMap((m) => m.zones))].sort(),
        });
      }
    }
  });

  it('searches across cameras newest first, filters by score and zone, pages with a cursor', async () => {
    const all = await vigil.api('GET', `/motion?from=${iso(0)}&to=${iso(300)}`);
    expect((all.json['intervals'] as Array<{ start: string }>).map((m) => m.start)).toEqual([iso(120), iso(60), iso(30), iso(10)]);
    const strong = await vigil.api('GET', `/motion?from=${iso(0)}&to=${iso(300)}&min_score=10`);
    expect((strong.json['intervals'] as Array<{ camera_id: string }>).map((m) => m.camera_id)).toEqual(['door', 'yard']);
    const gate = await vigil.api('GET', `/motion?from=${iso(0)}&to=${iso(300)}&zone=gate`);
    expect((gate.json['intervals'] as Array<{ camera_id: string }>).map((m) => m.camera_id)).toEqual(['yard']);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { json: Record<string, unknown> } = await vigil.api('GET', `/motion?from=${iso(0)}&to=${iso(300)}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...(page.json['intervals'] as Array<{ start: string }>).map((m) => m.start));
      cursor = page.json['next_cursor'] as string | null;
    } while (cursor);
    expect(seen).toEqual([iso(120), iso(60), iso(30), iso(10)]);
  });

  it('serves the peak frame as image/jpeg', async () => {
    const res = await vigil.api('GET', `/api/v1/motion/${ids[0]}/thumbnail.jpg`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/jpeg');
    expect(res.rawPayload.equals(JPEG)).toBe(true);
    expect((await vigil.api('GET', `/api/v1/motion/${ids[2]}/thumbnail.jpg`)).status).toBe(404);
  });

  it('a key scoped to one camera sees only its motion; another camera\'s thumbnail answers as missing', async () => {
    const all = await vigil.call(scoped, 'GET', `/motion?from=${iso(0)}&to=${iso(300)}`);
    expect((all.json['intervals'] as Array<{ camera_id: string }>).every((m) => m.camera_id === 'door')).toBe(true);
    expect((await vigil.call(scoped, 'GET', `/motion?camera_id=yard&from=${iso(0)}&to=${iso(300)}`)).json['intervals']).toEqual([]);
    const hidden = await vigil.call(scoped, 'GET', `/api/v1/motion/${ids[3]}/thumbnail.jpg`);
    const missing = await vigil.call(scoped, 'GET', '/api/v1/motion/999999/thumbnail.jpg');
    expect(hidden.status).toBe(404);
    expect(missing.status).toBe(404);
    expect((await vigil.call(scoped, 'GET', `/cameras/yard/motion`)).status).toBe(404);
    expect((await vigil.call(null, 'GET', `/motion`)).status).toBe(401);
  });

  it('refuses bad parameters naming them and audits searches and thumbnails', async () => {
    for (const [path, field] of [
      ['/motion?min_score=101', 'min_score'],
      ['/motion?zone=Front%20Door', 'zone'],
      ['/motion?from=yesterday', 'from'],
      ['/motion?cursor=bm9wZQ', 'cursor'],
      ['/motion?limit=0', 'limit'],
      ['/motion?camera=door', 'camera'],
      ['/cameras/door/motion?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z', 'to'],
      ['/cameras/door/motion?bucket_seconds=0', 'bucket_seconds'],
      ['/cameras/door/motion?bucket_seconds=1.5', 'bucket_seconds'],
      ['/cameras/door/motion?from=2026-12-01T00:00:00Z&to=2026-12-05T00:00:00Z&bucket_seconds=1', 'bucket_seconds'],
      ['/cameras/door/motion?bucket_seconds=60&cursor=abc', 'cursor'],
      ['/cameras/door/motion?limit=0', 'limit'],
      ['/cameras/door/motion?limit=10001', 'limit'],
      ['/cameras/door/motion?cursor=bm9wZQ', 'cursor'],
      ['/api/v1/motion/abc/thumbnail.jpg', 'id'],
    ] as const) {
      const res = await vigil.api('GET', path);
      expect(res.status, path).toBe(400);
      expect(res.json['field'], path).toBe(field);
    }
    const rows = vigil.app.db.selectFrom('audit_log').select(['action']).where('action', 'like', 'footage.motion%').execute();
    const actions = (await rows).map((r) => r.action);
    expect(actions).toContain('footage.motion_search');
    expect(actions).toContain('footage.motion_thumbnail');
  });
});
