/**
 * Three recording nodes on one PostgreSQL catalog (issue 19, items 3–5): how long a node's cameras take
 * to record again elsewhere after kill -9 (p50 / max over `kills`), what a clip of footage another node
 * holds costs against the same clip asked of the node that holds it, and the segment-list API's p95 on
 * a cluster node (PostgreSQL) against a single Vigil on SQLite recording the same cameras.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startPgCluster } from '../test/support/pg-cluster.js';
import { CameraFarm } from './camera-farm.js';
import { defer, tempDir } from './cleanup.js';
import { freePort, percentile, sleep, waitUntil } from './proc.js';
import { startVigilChild, type VigilChild, type VigilEntry } from './processes.js';
import { fmt, type SectionResult } from './report.js';

export interface ClusterBenchOptions {
  cameras: number;
  kills: number;
  leaseTtlSeconds: number;
  heartbeatSeconds: number;
  clips: number;
  queries: number;
  entry: VigilEntry;
  log: (msg: string) => void;
}

const MOUNT = { name: 'cluster', pattern: 'ball', width: 640, height: 360, fps: 15, bitrateKbps: 800 } as const;
const SEGMENT_SECONDS = 4;
const NODES = ['n1', 'n2', 'n3'];

export async function runClusterBench(o: ClusterBenchOptions): Promise<SectionResult[]> {
  const pgc = await startPgCluster({ durable: true });
  const stopPg = defer('cluster bench PostgreSQL', () => pgc.stop());
  const farm = await CameraFarm.start({ mount: MOUNT, servers: 1 });
  const stopFarm = defer('cluster bench fake cameras', () => farm.stop());
  const work = await tempDir('vigil-bench-cluster-');
  const admin = new pg.Client({ connectionString: pgc.adminUrl });
  await admin.connect();
  await admin.query('CREATE DATABASE vigil');
  await admin.end();
  const url = pgc.urlOf('vigil');
  const sql = new pg.Pool({ connectionString: url, max: 2 });
  const q = async <T>(text: string, values: unknown[] = []) => (await sql.query(text, values)).rows as T[];
  const cams = Array.from({ length: o.cameras }, (_, i) => ({ id: `cam${String(i + 1).padStart(2, '0')}`, url: farm.url(i), segmentSeconds: SEGMENT_SECONDS }));
  const nodes = new Map<string, VigilChild>();
  const ports = new Map<string, number>();
  let single: VigilChild | undefined;

  const start = async (id: string) => {
    const port = ports.get(id) ?? (await freePort());
    ports.set(id, port);
    const first = nodes.size === 0 && id === NODES[0];
    mkdirSync(join(work.path, id), { recursive: true });
    nodes.set(
      id,
      await startVigilChild(join(work.path, id), cams, o.entry, {
        port,
        config: {
          listen: `127.0.0.1:${port}`,
          catalog: { url },
          cluster: { node_id: id, url: `http://127.0.0.1:${port}`, lease_ttl_seconds: o.leaseTtlSeconds, heartbeat_seconds: o.heartbeatSeconds },
        },
        ...(first ? {} : { adminPasswordFile: join(work.path, NODES[0]!, 'data', 'initial-admin-password') }),
      }),
    );
  };
  const heldBy = async (id: string) =>
    (await q<{ camera_id: string }>('SELECT camera_id FROM camera_leases WHERE node_id = $1 AND expires_at_ms > $2', [id, Date.now()])).map((r) => r.camera_id);

  const failover: number[] = [];
  const leaseTaken: number[] = [];
  const clipLocal: number[] = [];
  const clipRemote: number[] = [];
  let pgP95 = 0;
  let sqliteP95 = 0;
  try {
    for (const id of NODES) await start(id);
    await waitUntil('every node holding a camera', async () => (await Promise.all(NODES.map(heldBy))).every((h) => h.length > 0), 60_000, 250);

    for (let k = 0; k < o.kills; k++) {
      const counts = await Promise.all(NODES.map(async (id) => [id, (await heldBy(id)).length] as const));
      const victim = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
      const its = await heldBy(victim);
      await sleep(1000 + Math.random() * o.heartbeatSeconds * 1000);
      const killedAt = Date.now();
      process.kill(nodes.get(victim)!.pid, 'SIGKILL');
      // Recording elsewhere: the camera's status says recording, from a recorder started on another node after the kill.
      const done = new Map<string, number>();
      const leased = new Map<string, number>();
      await waitUntil(`${victim}'s cameras recording elsewhere`, async () => {
        const rows = await q<{ camera_id: string; node_id: string | null; acquired_at_ms: string; state: string | null; last_started_at_ms: string | null }>(
          'SELECT l.camera_id, l.node_id, l.acquired_at_ms, s.state, s.last_started_at_ms FROM camera_leases l LEFT JOIN camera_status s ON s.camera_id = l.camera_id WHERE l.camera_id = ANY($1)',
          [its],
        );
        const now = Date.now();
        for (const r of rows) {
          if (r.node_id === null || r.node_id === victim) continue;
          if (!leased.has(r.camera_id)) leased.set(r.camera_id, Number(r.acquired_at_ms));
          if (!done.has(r.camera_id) && r.state === 'recording' && Number(r.last_started_at_ms) > killedAt) done.set(r.camera_id, now);
        }
        return done.size === its.length;
      }, (o.leaseTtlSeconds + 60) * 1000, 50).catch(async (err: unknown) => {
        // Say what the catalog shows, and whether the fake cameras are still up (a fixture failure is not Vigil's).
        const status = await q('SELECT s.camera_id, s.state, s.last_started_at_ms, substr(s.last_error, 1, 160) AS last_error, l.node_id, l.token, l.expires_at_ms FROM camera_status s LEFT JOIN camera_leases l ON l.camera_id = s.camera_id');
        const nodesNow = await q('SELECT id, heartbeat_at_ms, draining, stopped_at_ms FROM nodes');
        throw new Error(`${String(err)} (killed at ${killedAt}; ${farm.dead() || 'fake cameras up'}):\n${JSON.stringify(status)}\n${JSON.stringify(nodesNow)}`);
      });
      failover.push(Math.max(...done.values()) - killedAt);
      leaseTaken.push(Math.max(...leased.values()) - killedAt);
      o.log(`  kill ${k + 1}: ${victim} (${its.length} cameras): leases taken after ${leaseTaken.at(-1)} ms, all recording after ${failover.at(-1)} ms`);
      await nodes.get(victim)!.stop().catch(() => undefined);
      nodes.delete(victim);
      await start(victim);
      await waitUntil(`${victim} back with a camera`, async () => (await heldBy(victim)).length > 0, 90_000, 250);
    }

    // Cross-node clips: 30 s of one camera, all of it on one node, asked of that node and of another.
    for (let r = 0; r < o.clips; r++) {
      const rows = await q<{ camera_id: string; node_id: string; s: string; e: string }>(
        `SELECT camera_id, node_id, min(start_ms) AS s, max(end_ms) AS e FROM segments WHERE node_id IS NOT NULL GROUP BY camera_id, node_id HAVING max(end_ms) - min(start_ms) > 40000 ORDER BY random() LIMIT 1`,
      );
      const pick = rows[0];
      if (!pick) break;
      const from = Number(pick.s) + 2000 + Math.floor(Math.random() * Math.max(1, Number(pick.e) - Number(pick.s) - 36_000));
      const to = from + 30_000;
      const holder = nodes.get(pick.node_id)!;
      const other = [...nodes.entries()].find(([id]) => id !== pick.node_id)![1];
      const path = `/cameras/${pick.camera_id}/clip.mp4?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`;
      // Alternating which goes first: the first read of a range warms the holder's page cache for the second.
      const pair = [['remote', other, clipRemote], ['local', holder, clipLocal]] as const;
      for (const [who, v, into] of r % 2 === 0 ? pair : [...pair].reverse()) {
        const t0 = performance.now();
        const res = await v.api(path);
        const bytes = (await res.arrayBuffer()).byteLength;
        if (res.status !== 200) throw new Error(`${who} clip answered ${res.status}`);
        into.push(performance.now() - t0);
        if (r === 0) o.log(`  clip ${who}: ${bytes} B in ${into.at(-1)!.toFixed(0)} ms`);
      }
    }

    // Segment list API p95: a cluster node (PostgreSQL) …
    const listPath = (cam: string) => `/cameras/${cam}/segments?from=${new Date(Date.now() - 3600_000).toISOString()}&to=${new Date().toISOString()}&limit=40`;
    const p95 = async (v: VigilChild) => {
      const times: number[] = [];
      for (let i = 0; i < o.queries; i++) {
        const t0 = performance.now();
        const res = await v.api(listPath(cams[i % cams.length]!.id));
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`segment list answered ${res.status}`);
        times.push(performance.now() - t0);
      }
      return percentile(times, 95);
    };
    pgP95 = await p95(nodes.get(NODES[0]!)!);
    // … and a single Vigil on SQLite recording the same cameras for as long as the cluster has.
    for (const v of nodes.values()) await v.stop();
    nodes.clear();
    mkdirSync(join(work.path, 'single'), { recursive: true });
    single = await startVigilChild(join(work.path, 'single'), cams, o.entry);
    // Both answer full pages of 40 rows: the single Vigil records until every camera has 40.
    await waitUntil('the single Vigil recording 40 segments a camera', async () => {
      for (const c of cams) {
        const res = await single!.api(`/cameras/${c.id}/segments?limit=40`);
        if (((await res.json()) as { segments: unknown[] }).segments.length < 40) return false;
      }
      return true;
    }, 600_000, 2000);
    sqliteP95 = await p95(single);
  } finally {
    for (const v of nodes.values()) await v.stop().catch(() => undefined);
    await single?.stop().catch(() => undefined);
    await sql.end().catch(() => undefined);
    await work.remove();
    await stopFarm();
    await stopPg();
  }
  const ttl = `TTL ${o.leaseTtlSeconds} s, heartbeat ${o.heartbeatSeconds} s`;
  return [{
    name: 'cluster',
    rows: [
      { figure: `Failover: kill -9 of a node → its cameras recording on others (${o.kills} kills, ${ttl}; p50 / max)`, value: `${fmt.num(percentile(failover, 50))} ms / ${fmt.num(Math.max(...failover))} ms`, baseline: `goal ≤ TTL + 5 s = ${o.leaseTtlSeconds + 5} s`, ratio: '' },
      { figure: 'Failover: … leases taken by other nodes (p50 / max)', value: `${fmt.num(percentile(leaseTaken, 50))} ms / ${fmt.num(Math.max(...leaseTaken))} ms`, baseline: '', ratio: '' },
      { figure: `Clip of 30 s held by another node ÷ asked of the node that holds it (${clipLocal.length} pairs, p50)`, value: `${fmt.num(percentile(clipRemote, 50))} ms`, baseline: `${fmt.num(percentile(clipLocal, 50))} ms`, ratio: fmt.ratio(percentile(clipRemote, 50) / percentile(clipLocal, 50)) },
      { figure: `Segment list API p95 (pages of 40), cluster node on PostgreSQL ÷ single Vigil on SQLite (${o.queries} requests)`, value: `${pgP95.toFixed(1)} ms`, baseline: `${sqliteP95.toFixed(1)} ms`, ratio: fmt.ratio(pgP95 / sqliteP95) },
    ],
    data: { failoverMs: failover, leaseTakenMs: leaseTaken, clipLocalMs: clipLocal, clipRemoteMs: clipRemote, pgP95, sqliteP95, leaseTtlSeconds: o.leaseTtlSeconds, heartbeatSeconds: o.heartbeatSeconds },
  }];
}
