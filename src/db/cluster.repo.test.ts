import { beforeEach, describe, expect, it } from 'vitest';
import { upsertDeclaredCamera } from './camera.repo.js';
import { acquireLease, adoptFootage, beatHeart, holdsLease, listLeases, placementView, pinCamera, registerNode, releaseLease, renewLeases, setDraining } from './cluster.repo.js';
import { type Db, type OpenedDb } from './connection.js';
import { bytesByCamera, deleteToTombstones, listDeletable, listTombstones } from './retention.repo.js';
import { indexSegment, LeaseLostError } from './segment.repo.js';
import { clearReadLocks } from './read-lock.repo.js';
import { tempCatalog } from '../../test/support/temp-catalog.js';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);
const TTL = 15_000;

let opened: OpenedDb;
let db: Db;

tempCatalog('vigil-cluster-', (c) => (opened = c.opened));

beforeEach(async () => {
  db = opened.db;
  for (const id of ['front', 'back']) {
    await upsertDeclaredCamera(db, { id, name: id, mainUrl: `rtsp://cam.local/${id}`, subUrl: null, segmentSeconds: 10, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', T0);
  }
  await registerNode(db, { id: 'a', url: 'http://10.0.0.1:8080', capacity: 8 }, T0);
  await registerNode(db, { id: 'b', url: 'http://10.0.0.2:8080', capacity: 8 }, T0);
});

const seg = (cameraId: string, startMs: number, extra: Record<string, unknown> = {}) => ({
  cameraId, path: `recordings/${cameraId}/${startMs}.mp4`, startMs, endMs: startMs + 10_000, sizeBytes: 1000, codec: 'h264', width: 640, height: 360, source: 'live' as const, fps: 15, ...extra,
});

describe('camera leases (invariant 14)', () => {
  it('one node of two racing for a free camera gets it; the other gets it only once it lapsed, with the next token', async () => {
    const [x, y] = await Promise.all([acquireLease(db, 'front', 'a', T0, TTL), acquireLease(db, 'front', 'b', T0, TTL)]);
    expect([x, y].filter(Boolean)).toHaveLength(1);
    const winner = (x ?? y)!;
    const loser = winner.nodeId === 'a' ? 'b' : 'a';
    expect(winner.token).toBe(1);
    // Held: refused while unexpired, even a millisecond before the end.
    expect(await acquireLease(db, 'front', loser, T0 + TTL, TTL)).toBeUndefined();
    // Lapsed: taken, token 2; the former holder's renewal no longer returns it.
    const taken = await acquireLease(db, 'front', loser, T0 + TTL + 1, TTL);
    expect(taken).toMatchObject({ nodeId: loser, token: 2 });
    expect((await renewLeases(db, winner.nodeId!, T0 + TTL + 2, TTL)).map((l) => l.cameraId)).toEqual([]);
    expect(await holdsLease(db, 'front', { nodeId: winner.nodeId!, token: 1 })).toBe(false);
    expect(await holdsLease(db, 'front', { nodeId: loser, token: 2 })).toBe(true);
  });

  it('renewal keeps a lease alive past its first TTL; release frees it at once for another node', async () => {
    const l = (await acquireLease(db, 'back', 'a', T0, TTL))!;
    expect((await renewLeases(db, 'a', T0 + 10_000, TTL)).map((r) => [r.cameraId, r.expiresAtMs])).toEqual([['back', T0 + 10_000 + TTL]]);
    expect(await acquireLease(db, 'back', 'b', T0 + TTL + 1, TTL)).toBeUndefined();
    // A release with a stale token does nothing.
    expect(await releaseLease(db, 'back', { nodeId: 'a', token: l.token + 5 })).toBe(false);
    expect(await releaseLease(db, 'back', { nodeId: 'a', token: l.token })).toBe(true);
    expect(await acquireLease(db, 'back', 'b', T0 + 10_001, TTL)).toMatchObject({ nodeId: 'b', token: 2 });
  });

  it('a segment row is written only under the lease that is the camera\'s now: a stale token writes nothing', async () => {
    await acquireLease(db, 'front', 'a', T0, TTL);
    const ok = await indexSegment(db, seg('front', T0, { nodeId: 'a', fence: { nodeId: 'a', token: 1 } }), T0);
    expect(ok.segment).toBeDefined();
    // Node b takes the camera over after a's lease lapsed; a's next file is refused, b's is written.
    await acquireLease(db, 'front', 'b', T0 + TTL + 1, TTL);
    await expect(indexSegment(db, seg('front', T0 + 10_000, { nodeId: 'a', fence: { nodeId: 'a', token: 1 } }), T0)).rejects.toBeInstanceOf(LeaseLostError);
    const b = await indexSegment(db, seg('front', T0 + 20_000, { path: 'recordings/front/b.mp4', nodeId: 'b', fence: { nodeId: 'b', token: 2 } }), T0);
    expect(b.segment).toBeDefined();
    const rows = await db.selectFrom('segments').select(['start_ms', 'node_id']).orderBy('start_ms').execute();
    expect(rows).toEqual([{ start_ms: T0, node_id: 'a' }, { start_ms: T0 + 20_000, node_id: 'b' }]);
    // The gap between the two nodes' footage is recorded like any other (> 3 s).
    expect(b.gap).toMatchObject({ gapStartMs: T0 + 10_000, gapEndMs: T0 + 20_000 });
  });

  it('placement sees enabled cameras with pins and leases; drain and heartbeat are stored', async () => {
    await acquireLease(db, 'front', 'a', T0, TTL);
    expect(await pinCamera(db, 'back', 'b')).toBe(true);
    expect(await pinCamera(db, 'nope', 'b')).toBe(false);
    const view = await placementView(db);
    expect(view.map((c) => [c.id, c.pinnedNode, c.lease?.nodeId ?? null])).toEqual([['back', 'b', null], ['front', null, 'a']]);
    expect(await setDraining(db, 'a', true)).toBe(true);
    expect(await setDraining(db, 'zz', true)).toBe(false);
    expect(await beatHeart(db, 'a', T0 + 5000)).toMatchObject({ draining: true, heartbeatAtMs: T0 + 5000 });
    expect(await listLeases(db)).toHaveLength(1);
  });
});

describe('per-node footage', () => {
  it('footage of a single Vigil copied into a cluster is adopted by the node that holds its files', async () => {
    await indexSegment(db, seg('front', T0), T0);
    await indexSegment(db, seg('front', T0 + 10_000, { nodeId: 'b' }), T0);
    expect(await adoptFootage(db, 'a')).toBe(1);
    expect((await db.selectFrom('segments').select('node_id').orderBy('start_ms').execute()).map((r) => r.node_id)).toEqual(['a', 'b']);
    expect(await adoptFootage(db, 'a')).toBe(0);
  });

  it('retention candidates, byte counts, tombstones and read-lock clean-up are each node\'s own', async () => {
    await indexSegment(db, seg('front', T0, { nodeId: 'a' }), T0);
    await indexSegment(db, seg('front', T0 + 10_000, { nodeId: 'b' }), T0);
    await db.updateTable('segments').set({ locked: 2 }).execute();
    expect(await clearReadLocks(db, 'a')).toBe(1);
    expect((await db.selectFrom('segments').select(['node_id', 'locked']).orderBy('start_ms').execute()).map((r) => [r.node_id, r.locked])).toEqual([['a', 0], ['b', 2]]);
    await db.updateTable('segments').set({ locked: 0 }).execute();
    expect((await listDeletable(db, { nodeId: 'a', limit: 10 })).map((c) => c.path)).toEqual([`recordings/front/${T0}.mp4`]);
    expect(await bytesByCamera(db, 'b')).toEqual(new Map([['front', 1000]]));
    const ids = (await db.selectFrom('segments').select('id').execute()).map((r) => r.id);
    await deleteToTombstones(db, ids, 'age', T0);
    expect((await listTombstones(db, 10, 'a')).map((t) => t.path)).toEqual([`recordings/front/${T0}.mp4`]);
    expect((await listTombstones(db, 10, 'b')).map((t) => t.path)).toEqual([`recordings/front/${T0 + 10_000}.mp4`]);
  });
});
