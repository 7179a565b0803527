import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import { startChildVigil, type ChildVigil } from '../support/child-vigil.js';
import { removeDir, tempDir, waitFor } from '../support/harness.js';
import { freePort } from '../support/mosquitto.js';
import { LiveClient } from '../support/live-client.js';
import { buildWeb, launchChromium } from '../ui/support.js';

/**
 * Three `vigil serve` processes on loopback, one PostgreSQL catalog, four real fake cameras (issue:
 * scale-out, items 3 and 4; docs/design.md, "Cluster", invariant 17). Leases spread over the nodes;
 * kill -9 of a node → its cameras recording on the others within TTL + 5 s, the hole a recorded gap;
 * a node frozen (SIGSTOP) past its TTL writes no row for the cameras taken from it (fencing) and
 * rejoins; drain hands every camera of a node to the others; no camera has overlapping segments.
 */
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const TTL_S = 4;
const CAMS = ['c1', 'c2', 'c3', 'c4'];

let server: RtspServer;
let catalogUrl: string;
let sqlc: pg.Pool;
let base: string;
const nodes = new Map<string, { vigil: ChildVigil; dataDir: string; configPath: string }>();

async function q<T>(text: string, values: unknown[] = []): Promise<T[]> {
  return (await sqlc.query(text, values)).rows as T[];
}

const leases = () => q<{ camera_id: string; node_id: string | null; token: string; acquired_at_ms: string; expires_at_ms: string }>('SELECT camera_id, node_id, token, acquired_at_ms, expires_at_ms FROM camera_leases ORDER BY camera_id');
const heldBy = async (node: string) => (await leases()).filter((l) => l.node_id === node && Number(l.expires_at_ms) > Date.now()).map((l) => l.camera_id);

async function startNode(id: string): Promise<void> {
  const dataDir = join(base, id);
  const port = await freePort();
  const vigil = await startChildVigil(dataDir, {
    catalog: { url: catalogUrl },
    cluster: { node_id: id, url: `http://127.0.0.1:${port}`, lease_ttl_seconds: TTL_S, heartbeat_seconds: 1 },
    cameras: CAMS.map((c) => ({ id: c, main_url: server.url(c), segment_seconds: 2, anr_enabled: true, anr_preset: 'hikvision' })),
    recorder: { backoff_initial_ms: 300, backoff_max_ms: 1000 },
    anr: { settle_seconds: 0, scan_interval_seconds: 1 },
  }, { listen: `127.0.0.1:${port}` });
  nodes.set(id, { vigil, dataDir, configPath: join(base, `${id}.yml`) });
}

/** Signs in on a node as the admin the first node created (the users table is the cluster's). */
async function signIn(url: string): Promise<string> {
  const password = (await readFile(join(base, 'a', 'initial-admin-password'), 'utf8')).trim();
  const res = await fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: url }, body: JSON.stringify({ username: 'admin', password }) });
  expect(res.status).toBe(200);
  return res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
}

function ffprobeFrames(file: string): Promise<{ frames: number; errors: string }> {
  return new Promise((res, rej) => {
    const p = spawn('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]);
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', rej);
    p.on('close', () => res({ frames: Number(out.trim()), errors: err.trim() }));
  });
}

/** Newest segment start per camera (ms). */
async function newestStart(camera: string): Promise<number> {
  const r = await q<{ s: string | null }>('SELECT max(start_ms) AS s FROM segments WHERE camera_id = $1', [camera]);
  return Number(r[0]?.s ?? 0);
}

function cli(args: string[], configPath: string): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--config', configPath], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => res({ code, out }));
  });
}

beforeAll(async () => {
  const admin = inject('pgAdminUrl');
  const dbName = `vigil_cluster_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${dbName}`);
  await c.end();
  catalogUrl = admin.replace(/\/[^/]*$/, `/${dbName}`);
  sqlc = new pg.Pool({ connectionString: catalogUrl, max: 4 });
  base = await tempDir('vigil-cluster-');
  // The page the nodes serve, as `npm run build` makes it.
  await buildWeb();
  // Cameras with edge storage (ANR): a failover's hole is refilled from them by the node that took the camera.
  server = await RtspServer.start({ mounts: CAMS.map((name) => ({ name, width: 320, height: 180, fps: 10, bitrateKbps: 200, clock: false, edge: { sinceMs: Date.now() - 60_000 } })) });
});

afterAll(async () => {
  for (const n of nodes.values()) await n.vigil.kill9().catch(() => undefined);
  await sqlc?.end().catch(() => undefined);
  await server?.stop();
  if (base) await removeDir(base);
});

describe('three nodes on one PostgreSQL catalog', () => {
  it('spread the cameras, fail over a killed node within TTL + 5 s, fence a frozen one, drain, and never record a camera twice', async () => {
    for (const id of ['a', 'b', 'c']) await startNode(id);
    // Leases spread: every node records at least one camera, every camera is leased and recording.
    await waitFor('every node holding a camera', async () => (await Promise.all(['a', 'b', 'c'].map(heldBy))).every((h) => h.length >= 1) && (await leases()).every((l) => l.node_id !== null), 40_000, 250);
    const since = Date.now();
    await waitFor('every camera recording', async () => (await Promise.all(CAMS.map(newestStart))).every((s) => s > since - 1000), 30_000, 250);
    const nodesRows = await q<{ id: string; url: string }>('SELECT id, url FROM nodes ORDER BY id');
    expect(nodesRows.map((n) => n.id)).toEqual(['a', 'b', 'c']);

    // kill -9 the node with the most cameras: its cameras record on the others within TTL + 5 s.
    const counts = await Promise.all(['a', 'b', 'c'].map(async (id) => [id, (await heldBy(id)).length] as const));
    const victim = counts.sort((x, y) => y[1] - x[1])[0]![0];
    const victimCams = await heldBy(victim);
    const killedAt = Date.now();
    await nodes.get(victim)!.vigil.kill9();
    nodes.delete(victim);
    const takenAt = new Map<string, number>();
    await waitFor('the killed node\'s cameras recording elsewhere', async () => {
      const ls = await leases();
      for (const cam of victimCams) {
        if (takenAt.has(cam)) continue;
        const l = ls.find((x) => x.camera_id === cam);
        if (!l || l.node_id === victim || l.node_id === null) continue;
        const first = await q<{ s: string }>('SELECT min(start_ms) AS s FROM segments WHERE camera_id = $1 AND node_id = $2 AND start_ms > $3', [cam, l.node_id, killedAt]);
        if (first[0]?.s) takenAt.set(cam, Number(first[0].s));
      }
      return takenAt.size === victimCams.length;
    }, (TTL_S + 20) * 1000, 200);
    for (const [cam, at] of takenAt) expect(at - killedAt, `${cam}: recording elsewhere after ${at - killedAt} ms`).toBeLessThanOrEqual((TTL_S + 5) * 1000);
    // The hole is a gap like any other, recorded once per camera, and refilled from the camera's edge
    // storage by the node that records the camera now.
    for (const cam of victimCams) {
      const gaps = await q<{ id: string; gap_start_ms: string; gap_end_ms: string }>('SELECT id, gap_start_ms, gap_end_ms FROM recording_gaps WHERE camera_id = $1 AND gap_end_ms > $2', [cam, killedAt - 10_000]);
      expect(gaps.length, `${cam}: one gap over the failover`).toBe(1);
      expect(Number(gaps[0]!.gap_end_ms)).toBeGreaterThan(killedAt);
    }
    const failoverGaps = await q<{ id: string; camera_id: string }>('SELECT id, camera_id FROM recording_gaps WHERE camera_id = ANY($1) AND gap_end_ms > $2', [victimCams, killedAt]);
    await waitFor('the failover gaps refilled from the edge', async () => {
      const states = await q<{ fill_state: string }>('SELECT fill_state FROM recording_gaps WHERE id = ANY($1::bigint[])', [failoverGaps.map((g) => g.id)]);
      return states.every((s) => s.fill_state === 'filled');
    }, 60_000, 500);
    for (const g of failoverGaps) {
      const edge = await q<{ node_id: string }>("SELECT DISTINCT node_id FROM segments WHERE camera_id = $1 AND source = 'edge' AND start_ms >= $2", [g.camera_id, killedAt - 30_000]);
      expect(edge.map((e) => e.node_id), `${g.camera_id}: refilled by its new node`).toEqual([(await leases()).find((l) => l.camera_id === g.camera_id)!.node_id]);
    }

    // Freeze a survivor past its TTL: the other takes its cameras; when it thaws, it writes no row for them.
    const [frozen, other] = [...nodes.keys()] as [string, string];
    await waitFor(`${frozen} holding a camera`, async () => (await heldBy(frozen)).length > 0, 20_000, 250);
    const frozenCams = await heldBy(frozen);
    const frozenAt = Date.now();
    nodes.get(frozen)!.vigil.proc.kill('SIGSTOP');
    const takenOver = await waitFor(`${other} taking ${frozen}'s cameras`, async () => {
      const ls = await leases();
      return frozenCams.every((cam) => ls.find((l) => l.camera_id === cam)?.node_id === other) ? ls : undefined;
      // How fast a takeover is, is asserted after the kill above; here only what the frozen node writes.
    }, (TTL_S + 20) * 1000, 200);
    const takeover = new Map(takenOver.map((l) => [l.camera_id, { token: Number(l.token), atMs: Number(l.acquired_at_ms) }]));
    // Its ffmpegs went on writing files meanwhile; then it thaws.
    await sleep(3000);
    const thawedAt = Date.now();
    nodes.get(frozen)!.vigil.proc.kill('SIGCONT');
    await waitFor(`${frozen} noticing its lost leases`, async () => (await q<{ n: string }>("SELECT count(*) AS n FROM events WHERE type = 'camera_lease_lost' AND payload LIKE $1", [`%"node_id":"${frozen}"%`]))[0]!.n !== '0', 20_000, 200);
    await sleep(4000);
    expect(thawedAt).toBeGreaterThan(Math.max(...[...takeover.values()].map((t) => t.atMs)));
    for (const cam of frozenCams) {
      // No row of the frozen node for that camera holds footage recorded under its old lease after the
      // other node took it (from files begun before the thaw; once thawed, the balance may hand the
      // camera back to it under a new lease, whose rows are its own).
      const t = takeover.get(cam)!;
      const late = await q<{ path: string; start_ms: string; end_ms: string; source: string }>('SELECT path, start_ms, end_ms, source, indexed_at_ms FROM segments WHERE camera_id = $1 AND node_id = $2 AND end_ms > $3 AND start_ms < $4', [cam, frozen, t.atMs, thawedAt]);
      expect(late, `${cam}: rows written by ${frozen} after ${other} took it at ${t.atMs} (token ${t.token}; frozen at ${frozenAt}): ${JSON.stringify(late)}`).toEqual([]);
    }
    // What its recorders wrote under the lost lease is kept aside, never indexed.
    const fenced = await q<{ payload: string }>("SELECT payload FROM events WHERE type = 'segment_fenced'");
    const asideDir = join(nodes.get(frozen)!.dataDir, 'fenced');
    if (fenced.length > 0) expect((await readdir(asideDir, { recursive: true })).some((f) => String(f).endsWith('.mp4'))).toBe(true);
    // It rejoins: heartbeats again and takes cameras back as the balance moves them.
    await waitFor(`${frozen} recording again`, async () => (await heldBy(frozen)).length > 0, 30_000, 250);

    // Drain: every camera of the node moves to the other; the command waits for it.
    const drained = frozen;
    const moved = await heldBy(drained);
    const drainAt = Date.now();
    const dr = await cli(['node', 'drain', drained, '--wait', '30'], nodes.get(drained)!.configPath);
    expect(dr.code, dr.out).toBe(0);
    expect(await heldBy(drained)).toEqual([]);
    const drainDone = Date.now();
    await waitFor('every camera recording on the remaining node', async () => (await Promise.all(CAMS.map(newestStart))).every((s) => s > drainDone), 20_000, 250);
    const list = await cli(['node', 'list', '--json'], nodes.get(drained)!.configPath);
    expect(list.code, list.out).toBe(0);
    const listed = JSON.parse(list.out) as Array<{ id: string; state: string; cameras: string[] }>;
    expect(listed.find((n) => n.id === drained)).toMatchObject({ state: 'draining', cameras: [] });
    expect(listed.find((n) => n.id === other)?.cameras.sort()).toEqual(CAMS);

    // One API on every node: a clip across the hand-off, asked of either node, is one playable MP4 of
    // both nodes' footage (the entry node fetches the other's files, signed, checked by their hashes).
    const cam = moved[0]!;
    await sleep(2500);
    const from = drainAt - 6000;
    const to = Date.now() - 500;
    const holders = await q<{ node_id: string }>('SELECT DISTINCT node_id FROM segments WHERE camera_id = $1 AND end_ms > $2 AND start_ms < $3', [cam, from, to]);
    expect(holders.map((h) => h.node_id).sort()).toEqual([other, drained].sort());
    for (const entry of [other, drained]) {
      const url = nodes.get(entry)!.vigil.url;
      const cookie = await signIn(url);
      const res = await fetch(`${url}/api/v1/cameras/${cam}/clip.mp4?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`, { headers: { cookie } });
      expect(res.status, await res.clone().text().catch(() => '')).toBe(200);
      const file = join(base, `clip-${entry}.mp4`);
      await writeFile(file, Buffer.from(await res.arrayBuffer()));
      const probe = await ffprobeFrames(file);
      expect(probe.errors, `clip from ${entry}`).toBe('');
      // 10 fps over the range, less the hand-off's hole (a few seconds at most).
      expect(probe.frames, `clip from ${entry}`).toBeGreaterThan(((to - from) / 1000 - 4) * 10);
      // Recorded playback: the playlist lists both nodes' segments; each is served by the entry node.
      const pl = await fetch(`${url}/api/v1/cameras/${cam}/playback.m3u8?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`, { headers: { cookie } });
      expect(pl.status).toBe(200);
      const ids = [...(await pl.text()).matchAll(/segments\/(\d+)\/media\.mp4/g)].map((m) => Number(m[1]));
      const owners = await q<{ id: string; node_id: string }>('SELECT id, node_id FROM segments WHERE id = ANY($1::bigint[])', [ids]);
      expect(new Set(owners.map((o) => o.node_id)).size).toBe(2);
      const remote = owners.find((o) => o.node_id !== entry)!;
      const media = await fetch(`${url}/api/v1/segments/${remote.id}/media.mp4`, { headers: { cookie, range: 'bytes=0-99' } });
      expect(media.status).toBe(206);
      expect((await media.arrayBuffer()).byteLength).toBe(100);
    }
    // Live view from any node: a camera recorded on `other`, watched through `drained`, is relayed from the recording node.
    {
      const url = nodes.get(drained)!.vigil.url;
      const status = await (await fetch(`${url}/api/v1/cameras/${cam}/status`, { headers: { cookie: await signIn(url) } })).json() as { recording_node: string };
      expect(status.recording_node, 'the status names the node that records the camera').toBe(other);
      const viewer = await LiveClient.connect(url, `/cameras/${cam}/live`, { cookie: await signIn(url), origin: url });
      try {
        await viewer.waitForFragments(3, 15_000);
        const { init, fragments } = viewer.stream();
        expect(init?.codec ?? init).toBeTruthy();
        expect(fragments.length).toBeGreaterThanOrEqual(3);
        expect(viewer.messages.find((m) => m.text)?.text).toMatchObject({ type: 'init' });
      } finally {
        await viewer.close();
      }
      // The relaying node is not a way around the route's checks: an unsigned node header opens nothing.
      await expect(LiveClient.connect(nodes.get(other)!.vigil.url, `/cameras/${cam}/live`, { 'x-vigil-node': `v1.${drained}.${Date.now() + 10_000}.${'0'.repeat(64)}` })).rejects.toMatchObject({ status: 401 });
    }
    // The page on any node shows which node records each camera (the status badge of the camera's tile).
    {
      const url = nodes.get(drained)!.vigil.url;
      const browser = await launchChromium();
      try {
        const page = await (await browser.newContext({ timezoneId: 'UTC' })).newPage();
        await page.goto(`${url}/`);
        await page.getByLabel('Username').fill('admin');
        await page.getByLabel('Password').fill((await readFile(join(base, 'a', 'initial-admin-password'), 'utf8')).trim());
        await page.getByRole('button', { name: 'Log in' }).click();
        await page.getByRole('navigation', { name: 'Main' }).waitFor();
        const badges = page.locator('[data-role="recording-node"]');
        await badges.first().waitFor({ timeout: 15_000 });
        await expect.poll(async () => (await badges.allTextContents()).filter((t) => t === `node ${other}`).length, { timeout: 15_000 }).toBe(CAMS.length);
      } finally {
        await browser.close();
      }
    }
    // The node-to-node route opens nothing to anyone else: no signature, a user's session, or a forged one → 404.
    const peerUrl = `${nodes.get(other)!.vigil.url}/api/v1/cluster/segments/1/file`;
    expect((await fetch(peerUrl)).status).toBe(404);
    expect((await fetch(peerUrl, { headers: { cookie: await signIn(nodes.get(other)!.vigil.url) } })).status).toBe(404);
    expect((await fetch(peerUrl, { headers: { 'x-vigil-node': `v1.${drained}.${Date.now() + 10_000}.${'0'.repeat(64)}` } })).status).toBe(404);
    // Footage of the killed node cannot be fetched: a clip that needs it says so (503 naming the node), never a silent hole.
    const deadRange = await q<{ start_ms: string; end_ms: string; camera_id: string }>('SELECT start_ms, end_ms, camera_id FROM segments WHERE node_id = $1 ORDER BY start_ms DESC LIMIT 1', [victim]);
    const d0 = deadRange[0]!;
    const entryUrl = nodes.get(other)!.vigil.url;
    const dead = await fetch(`${entryUrl}/api/v1/cameras/${d0.camera_id}/clip.mp4?from=${new Date(Number(d0.start_ms)).toISOString()}&to=${new Date(Number(d0.end_ms)).toISOString()}`, { headers: { cookie: await signIn(entryUrl) } });
    expect(dead.status).toBe(503);
    expect(await dead.json()).toMatchObject({ message: expect.stringContaining(`node "${victim}"`) });

    // Never two nodes at once: no camera has overlapping segments.
    const rows = await q<{ camera_id: string; start_ms: string; end_ms: string; node_id: string }>('SELECT camera_id, start_ms, end_ms, node_id FROM segments ORDER BY camera_id, start_ms');
    for (let i = 1; i < rows.length; i++) {
      const [p, r] = [rows[i - 1]!, rows[i]!];
      if (p.camera_id === r.camera_id) expect(Number(r.start_ms), `${r.camera_id} overlaps at ${r.start_ms}`).toBeGreaterThanOrEqual(Number(p.end_ms));
    }
    expect(new Set(rows.map((r) => r.node_id)).size).toBe(3);
    // `vigil check` on a node checks its own files (and overlaps across every node): clean.
    for (const id of [other, drained]) {
      const r = await cli(['check', '--data', nodes.get(id)!.dataDir], nodes.get(id)!.configPath);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain('no problems');
    }
  });
});
