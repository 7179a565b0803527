import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ClusterConfig } from '../config/config.js';
import {
  acquireLease,
  beatHeart,
  listNodes,
  markStopped,
  placementView,
  registerNode,
  releaseLease,
  renewLeases,
  type Fence,
  type NodeRow,
  type PlacementCamera,
} from '../db/cluster.repo.js';
import type { Db } from '../db/connection.js';
import type { EventLog } from '../events/event-log.js';
import type { Clock } from '../shared/clock.js';

export interface ClusterNodeDeps {
  db: Db;
  clock: Clock;
  events: EventLog;
  log: Logger;
  config: ClusterConfig;
  /**
   * Brings the recorders in line with this node's leases (`fences()`); resolves once recorders that
   * stopped have indexed their last segments (a lease is released only after that).
   */
  apply(): Promise<void>;
  /** Tests: false to drive heartbeats by calling `tick()` (default true: every `heartbeatMs`). */
  autoBeat?: boolean;
}

/** What one camera weighs in the balance: one for the camera, plus its bitrate against the average. */
function weights(cameras: PlacementCamera[]): Map<string, number> {
  const known = cameras.map((c) => c.bitrateBps).filter((b): b is number => b !== null && b > 0);
  const avg = known.length > 0 ? known.reduce((a, b) => a + b, 0) / known.length : 0;
  return new Map(cameras.map((c) => [c.id, 1 + (avg > 0 && c.bitrateBps !== null && c.bitrateBps > 0 ? c.bitrateBps / avg : 1)]));
}

/** Rendezvous hashing: each node prefers a different order of cameras, so nodes racing for free cameras rarely want the same one. */
function preference(nodeId: string, cameraId: string): number {
  return createHash('sha1').update(`${nodeId}\0${cameraId}`).digest().readUIntBE(0, 6);
}

/**
 * This process as a node of a cluster (docs/design.md, "Cluster"): registers in the catalog, beats its
 * heartbeat, renews its camera leases, takes free ones up to its fair share, hands cameras off when it
 * drains, when an admin pins one elsewhere, or when it holds more than its share while another node
 * has room. Recorders run only for the cameras it holds (`fences()`), each under its lease's token.
 *
 * A lease not renewed for the TTL (the node died, froze, or lost the catalog) is free: the next
 * heartbeat of another node takes it (failover within TTL + one heartbeat + recorder start). A node
 * that finds at renewal that a lease is no longer its own stops that recorder at once; the rows its
 * files would have made are refused by the fence (invariant 14).
 */
export class ClusterNode {
  private held = new Map<string, Fence>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private halted = false;
  private applying = false;
  /** Cameras this node handed off, and when: left to the other nodes for a while. */
  private readonly handedOff = new Map<string, number>();

  constructor(private readonly d: ClusterNodeDeps) {}

  get nodeId(): string {
    return this.d.config.nodeId;
  }

  /** This node's leases: the cameras it records, each with its fencing token. */
  fences(): ReadonlyMap<string, Fence> {
    return new Map(this.held);
  }

  /** The lease this node holds on a camera, if any. */
  fenceOf(cameraId: string): Fence | undefined {
    return this.held.get(cameraId);
  }

  /** Registers and takes the first leases (recorders start before this resolves). */
  async start(): Promise<void> {
    const c = this.d.config;
    const self = await registerNode(this.d.db, { id: c.nodeId, url: c.url, capacity: c.capacity }, this.d.clock.nowMs());
    await this.d.events.emit({ type: 'node_started', requestId: null, payload: { node_id: c.nodeId, url: c.url, capacity: c.capacity, draining: self.draining } });
    await this.tick();
    if (this.d.autoBeat !== false) this.schedule();
  }

  /** A placement pass soon (a camera was created, enabled, pinned; a node was drained). */
  kick(): void {
    // The recorders following this node's own pass (apply) are no news to it.
    if (this.halted || this.applying) return;
    void this.tick();
  }

  /** No more heartbeats or placement: called before the recorders stop at shutdown. */
  async halt(): Promise<void> {
    this.halted = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  /** After the recorders stopped (their last rows written): every lease released, the node marked stopped. */
  async leave(): Promise<void> {
    for (const [cameraId, fence] of this.held) {
      await releaseLease(this.d.db, cameraId, fence).catch((err: unknown) => this.d.log.error({ err, cameraId }, 'releasing a lease failed'));
    }
    this.held.clear();
    await markStopped(this.d.db, this.nodeId, this.d.clock.nowMs()).catch((err: unknown) => this.d.log.error({ err }, 'marking the node stopped failed'));
  }

  private async apply(): Promise<void> {
    this.applying = true;
    try {
      await this.d.apply();
    } finally {
      this.applying = false;
    }
  }

  private schedule(): void {
    if (this.halted) return;
    this.timer = setTimeout(() => {
      void this.tick().finally(() => this.schedule());
    }, this.d.config.heartbeatMs);
    this.timer.unref();
  }

  /** One pass: heartbeat, renewals, then hand-offs and acquisitions. Serialised; a call during a pass runs one more after it. */
  tick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    this.ticking = (async () => {
      do {
        this.again = false;
        try {
          await this.pass();
        } catch (err) {
          // The catalog unreachable: leases lapse by themselves if it lasts; recording goes on meanwhile.
          this.d.log.error({ err }, 'cluster pass failed');
        }
      } while (this.again && !this.halted);
    })().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async pass(): Promise<void> {
    const { db, clock, config } = this.d;
    const now = clock.nowMs();
    const me = (await beatHeart(db, config.nodeId, now)) ?? (await registerNode(db, { id: config.nodeId, url: config.url, capacity: config.capacity }, now));
    let changed = false;

    // 1. Renewals: a lease missing from what this node still holds was taken over.
    const renewed = new Map((await renewLeases(db, config.nodeId, now, config.leaseTtlMs)).map((l) => [l.cameraId, { nodeId: config.nodeId, token: l.token }]));
    for (const [cameraId, fence] of this.held) {
      if (renewed.get(cameraId)?.token === fence.token) continue;
      this.held.delete(cameraId);
      changed = true;
      await this.d.events.emit({ type: 'camera_lease_lost', severity: 'warning', cameraId, requestId: null, payload: { node_id: config.nodeId, token: fence.token } });
    }
    // Leases this node held before a restart: still its own (no other node took them), recorded again.
    for (const [cameraId, fence] of renewed) {
      if (this.held.has(cameraId) || this.halted) continue;
      this.held.set(cameraId, fence);
      changed = true;
      await this.d.events.emit({ type: 'camera_lease_acquired', cameraId, requestId: null, payload: { node_id: config.nodeId, token: fence.token, reason: 'kept' } });
    }
    if (changed) await this.apply();
    if (this.halted) return;

    const view = await placementView(db);
    const byId = new Map(view.map((c) => [c.id, c]));
    // The nodes that take cameras: up (a heartbeat within the TTL, not stopped) and not draining.
    const taking = (await listNodes(db)).filter((n) => n.stoppedAtMs === null && n.heartbeatAtMs >= now - config.leaseTtlMs && !n.draining);
    const takingIds = new Set(taking.map((n) => n.id));
    const pinnedElsewhere = (c: PlacementCamera | undefined) => !!c?.pinnedNode && c.pinnedNode !== config.nodeId && takingIds.has(c.pinnedNode);

    // 2. Hand-offs: everything when draining; cameras pinned to another live node; one camera when over
    // the fair share while another node has room. The recorder stops first (its last segment indexed
    // under the lease), then the lease is released: the next node's pass takes it at once.
    const release: Array<{ cameraId: string; reason: string }> = [];
    for (const cameraId of this.held.keys()) {
      const cam = byId.get(cameraId);
      if (me.draining) release.push({ cameraId, reason: 'drain' });
      else if (!cam) release.push({ cameraId, reason: 'not_recording' });
      else if (pinnedElsewhere(cam)) release.push({ cameraId, reason: 'pinned_elsewhere' });
    }
    const balance = this.balance(view, taking, pinnedElsewhere, now);
    if (release.length === 0 && balance.surplus) release.push({ cameraId: balance.surplus, reason: 'rebalance' });
    if (release.length > 0) {
      const fences = release.map((r) => [r.cameraId, this.held.get(r.cameraId)!] as const);
      for (const r of release) this.held.delete(r.cameraId);
      await this.apply();
      for (const [cameraId, fence] of fences) {
        await releaseLease(db, cameraId, fence);
        const reason = release.find((r) => r.cameraId === cameraId)!.reason;
        if (reason !== 'drain') this.handedOff.set(cameraId, clock.nowMs());
        await this.d.events.emit({ type: 'camera_lease_released', cameraId, requestId: null, payload: { node_id: config.nodeId, token: fence.token, reason } });
      }
    }
    if (me.draining || this.halted) return;

    // 3. Acquisitions, in this node's preference order, up to its share (and its capacity).
    let taken = 0;
    for (const cameraId of balance.take) {
      if (this.halted) break;
      const before = byId.get(cameraId)?.lease;
      const lease = await acquireLease(db, cameraId, config.nodeId, clock.nowMs(), config.leaseTtlMs);
      if (!lease) continue;
      this.held.set(cameraId, { nodeId: config.nodeId, token: lease.token });
      taken++;
      const reason = !before ? 'new' : before.nodeId === null ? 'released' : 'expired';
      await this.d.events.emit({
        type: 'camera_lease_acquired',
        cameraId,
        requestId: null,
        payload: { node_id: config.nodeId, token: lease.token, reason, ...(reason === 'expired' ? { previous_node: before!.nodeId, expired_at: new Date(before!.expiresAtMs).toISOString() } : {}) },
      });
    }
    if (taken > 0) await this.apply();
  }

  /**
   * The balance seen from this node: which free cameras to take (pinned here first, then in this node's
   * preference order) and at most one camera to hand to a node that is clearly less loaded. Each camera
   * weighs 1 + its bitrate ÷ the average bitrate; loads are compared per unit of capacity. A free
   * camera is always taken by some node (one under its share takes it; recording beats balance), and a
   * camera this node just handed off is left to the others for three heartbeats (no ping-pong).
   */
  private balance(
    view: PlacementCamera[],
    taking: NodeRow[],
    pinnedElsewhere: (c: PlacementCamera) => boolean,
    now: number,
  ): { take: string[]; surplus: string | undefined } {
    const me = this.d.config.nodeId;
    const self = taking.find((n) => n.id === me);
    if (!self) return { take: [], surplus: undefined };
    const w = weights(view);
    const weightOf = (id: string) => w.get(id) ?? 1;
    const totalW = view.reduce((a, c) => a + weightOf(c.id), 0);
    const capSum = taking.reduce((a, n) => a + n.capacity, 0) || 1;
    const heaviest = Math.max(1, ...w.values());
    const myShare = (totalW * self.capacity) / capSum;
    for (const [id, at] of this.handedOff) if (now - at > 3 * this.d.config.heartbeatMs) this.handedOff.delete(id);
    const isFree = (c: PlacementCamera) => !c.lease || c.lease.nodeId === null || (c.lease.nodeId !== me && c.lease.expiresAtMs < now);
    // Each camera's place in this node's order, hashed once a pass.
    const rank = new Map(view.map((c) => [c.id, preference(me, c.id)]));
    const rankOf = (id: string) => rank.get(id) ?? 0;
    let load = [...this.held.keys()].reduce((a, id) => a + weightOf(id), 0);
    let count = this.held.size;
    const free = view.filter((c) => isFree(c) && !this.held.has(c.id) && !pinnedElsewhere(c) && !this.handedOff.has(c.id));
    free.sort((a, b) => Number(b.pinnedNode === me) - Number(a.pinnedNode === me) || rankOf(b.id) - rankOf(a.id));
    const take: string[] = [];
    for (const c of free) {
      if (count >= self.capacity) break;
      const cw = weightOf(c.id);
      if (c.pinnedNode !== me && load > 0 && load + cw > myShare + heaviest) continue;
      take.push(c.id);
      load += cw;
      count++;
    }
    let surplus: string | undefined;
    if (free.length === 0) {
      // The other nodes' cameras and loads, from their unexpired leases.
      const others = new Map(taking.filter((n) => n.id !== me).map((n) => [n.id, { node: n, count: 0, load: 0 }]));
      for (const c of view) {
        const o = c.lease?.nodeId ? others.get(c.lease.nodeId) : undefined;
        if (!o || c.lease!.expiresAtMs < now) continue;
        o.count++;
        o.load += weightOf(c.id);
      }
      const pinnedHere = new Set(view.filter((c) => c.pinnedNode === me).map((c) => c.id));
      const mine = [...this.held.keys()].filter((id) => !pinnedHere.has(id));
      mine.sort((a, b) => rankOf(a) - rankOf(b));
      for (const id of mine) {
        const cw = weightOf(id);
        const lighter = [...others.values()].some((o) => o.count < o.node.capacity && (load - cw) / self.capacity >= (o.load + cw) / o.node.capacity);
        if (lighter) {
          surplus = id;
          break;
        }
      }
    }
    return { take, surplus };
  }

}
