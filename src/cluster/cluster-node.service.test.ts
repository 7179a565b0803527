import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { recordSegmentIndexed } from '../db/camera-status.repo.js';
import { listLeases, pinCamera, setDraining, type Fence } from '../db/cluster.repo.js';
import type { Db, OpenedDb } from '../db/connection.js';
import { listEvents } from '../db/event.repo.js';
import { EventLog } from '../events/event-log.js';
import { tempCatalog } from '../../test/support/temp-catalog.js';
import { ClusterNode } from './cluster-node.js';

/**
 * Placement from the catalog alone (docs/design.md, "Cluster"): nodes as ClusterNode instances on one
 * catalog, a manual clock, and `apply` recording what each node would record. Both engines.
 */
const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);
const TTL = 15_000;
const HEARTBEAT = 5_000;

let opened: OpenedDb;
let db: Db;
let now: number;
const clock = { nowMs: () => now };
const log = pino({ level: 'silent' });

tempCatalog('vigil-placement-', (c) => (opened = c.opened));

beforeEach(async () => {
  db = opened.db;
  now = T0;
});

async function cameras(n: number, bitrates: number[] = []): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `c${i + 1}`);
  for (const [i, id] of ids.entries()) {
    await upsertDeclaredCamera(db, { id, name: id, mainUrl: `rtsp://10.0.0.1/${id}`, subUrl: null, segmentSeconds: 10, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', T0);
    if (bitrates[i] !== undefined) await recordSegmentIndexed(db, id, T0, { bitrateBps: bitrates[i]!, fps: 15 }, T0);
  }
  return ids;
}

interface TestNode {
  node: ClusterNode;
  /** What the node records, as its last `apply` saw it. */
  recording: Map<string, Fence>;
  applies: number;
}

function node(id: string, capacity = 64): TestNode {
  const t: TestNode = { node: undefined as unknown as ClusterNode, recording: new Map(), applies: 0 };
  t.node = new ClusterNode({
    db,
    clock,
    events: new EventLog(db, clock, log),
    log,
    config: { nodeId: id, url: `http://${id}:8080`, capacity, leaseTtlMs: TTL, heartbeatMs: HEARTBEAT, cacheBytes: 0 },
    autoBeat: false,
    apply: async () => {
      t.applies++;
      t.recording = new Map(t.node.fences());
    },
  });
  return t;
}

/** One heartbeat of every node, `rounds` times, the clock moving one heartbeat each round. */
async function beat(nodes: TestNode[], rounds = 1): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    for (const n of nodes) await n.node.tick();
    now += HEARTBEAT;
  }
}

/** Two nodes started one after the other, then `rounds` heartbeats of both. */
async function started(ids: [string, string], rounds: number): Promise<[TestNode, TestNode]> {
  const nodes: [TestNode, TestNode] = [node(ids[0]), node(ids[1])];
  for (const n of nodes) await n.node.start();
  await beat(nodes, rounds);
  return nodes;
}

const held = (t: TestNode) => [...t.recording.keys()].sort();

function assertEveryCameraOnce(nodes: TestNode[], ids: string[]): void {
  const all = nodes.flatMap(held).sort();
  expect(all, 'every camera recorded by exactly one node').toEqual([...ids].sort());
}

describe('camera placement across nodes', () => {
  it('a first node takes every camera; nodes that join take their share by rebalancing, each camera on one node', async () => {
    const ids = await cameras(6);
    const a = node('a');
    await a.node.start();
    expect(held(a)).toEqual(ids);
    const b = node('b');
    const c = node('c');
    for (const n of [b, c]) {
      await n.node.start();
    }
    await beat([a, b, c], 8);
    assertEveryCameraOnce([a, b, c], ids);
    expect([a, b, c].map((n) => held(n).length)).toEqual([2, 2, 2]);
    // Hand-offs are graceful: released by the holder, then taken.
    const released = (await listEvents(db, { type: 'camera_lease_released', limit: 100 })).map((e) => e.payload['reason']);
    expect(released.length).toBeGreaterThanOrEqual(4);
    expect(new Set(released)).toEqual(new Set(['rebalance']));
  });

  it('balances by bitrate as well as by count: a heavy camera counts for more', async () => {
    // One 8 Mbit/s camera and five of 1 Mbit/s: the node with the heavy one holds fewer cameras.
    const ids = await cameras(6, [8_000_000, 1_000_000, 1_000_000, 1_000_000, 1_000_000, 1_000_000]);
    const [a, b] = await started(['a', 'b'], 8);
    assertEveryCameraOnce([a, b], ids);
    const heavy = held(a).includes('c1') ? a : b;
    const light = heavy === a ? b : a;
    expect(held(heavy).length).toBeLessThan(held(light).length);
  });

  it('never takes more cameras than its capacity; the rest go to a node with room', async () => {
    const ids = await cameras(5);
    const small = node('small', 2);
    await small.node.start();
    expect(held(small)).toHaveLength(2);
    const big = node('big');
    await big.node.start();
    await beat([small, big], 3);
    assertEveryCameraOnce([small, big], ids);
    expect(held(small).length).toBeLessThanOrEqual(2);
  });

  it('a pinned camera goes to its node and stays there; unpinned, it may move again', async () => {
    const ids = await cameras(4);
    const [a, b] = await started(['a', 'b'], 4);
    const onA = held(a)[0]!;
    await pinCamera(db, onA, 'b');
    await beat([a, b], 3);
    expect(held(b)).toContain(onA);
    expect(held(a)).not.toContain(onA);
    assertEveryCameraOnce([a, b], ids);
    const reasons = (await listEvents(db, { type: 'camera_lease_released', limit: 100 })).filter((e) => e.cameraId === onA).map((e) => e.payload['reason']);
    expect(reasons).toContain('pinned_elsewhere');
    // Pinned to a node that is down: recorded anyway (availability beats the pin).
    await pinCamera(db, onA, 'gone');
    await beat([a, b], 2);
    assertEveryCameraOnce([a, b], ids);
  });

  it('drain hands every camera to the others and takes none until resumed', async () => {
    const ids = await cameras(4);
    const [a, b] = await started(['a', 'b'], 4);
    expect(held(a).length).toBeGreaterThan(0);
    await setDraining(db, 'a', true);
    await beat([a, b], 2);
    expect(held(a)).toEqual([]);
    expect(held(b)).toEqual(ids);
    expect((await listLeases(db)).every((l) => l.nodeId === 'b')).toBe(true);
    await setDraining(db, 'a', false);
    await beat([a, b], 6);
    expect(held(a).length).toBeGreaterThan(0);
    assertEveryCameraOnce([a, b], ids);
  });

  it('a silent node loses its cameras after the TTL, with new tokens; when it speaks again it learns it and records none of them', async () => {
    const ids = await cameras(4);
    const [a, b] = await started(['a', 'b'], 4);
    const aHad = new Map(a.recording);
    expect(aHad.size).toBeGreaterThan(0);
    // a stops beating (frozen); b goes on past the TTL.
    for (let i = 0; i < 4; i++) {
      await b.node.tick();
      now += HEARTBEAT;
    }
    expect(held(b)).toEqual(ids);
    for (const [cam, fence] of aHad) expect(b.recording.get(cam)!.token).toBeGreaterThan(fence.token);
    await a.node.tick();
    expect(held(a)).toEqual([]);
    const lost = (await listEvents(db, { type: 'camera_lease_lost', limit: 100 })).map((e) => e.cameraId).sort();
    expect(lost).toEqual([...aHad.keys()].sort());
  });

  it('a clean stop releases every lease at once (no wait for the TTL) and marks the node stopped', async () => {
    const ids = await cameras(3);
    const [a, b] = await started(['a', 'b'], 4);
    await a.node.leave();
    await b.node.tick();
    expect(held(b)).toEqual(ids);
  });
});
