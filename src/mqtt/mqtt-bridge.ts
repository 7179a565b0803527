import { connect, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { AuditLog } from '../auth/audit.js';
import type { MqttConfig } from '../config/mqtt-config.js';
import { listStatuses } from '../db/camera-status.repo.js';
import { listCameras } from '../db/camera.repo.js';
import type { Db } from '../db/connection.js';
import type { NewEvent } from '../db/event.repo.js';
import { lastSegment } from '../db/segment.repo.js';
import type { EventLog } from '../events/event-log.js';
import type { Snapshot } from '../export/snapshot.service.js';
import type { LiveStats } from '../live/live-hub.js';
import type { Clock } from '../shared/clock.js';
import { sleep } from '../shared/sleep.js';
import { toIso } from '../shared/time.js';
import { clientOptions, RECONNECT_INITIAL_MS, RECONNECT_MAX_MS } from './client-options.js';
import { Discovery } from './discovery.js';
import { cameraState, eventMessage } from './messages.js';
import { PublishQueue, type OutgoingMessage } from './publish-queue.js';
import { CAMERA_RETAINED, MqttTopics } from './topics.js';

/** Events kept while the broker is away; beyond it the oldest are dropped (and counted). */
export const MAX_QUEUED_EVENTS = 1000;
/** Publications handed to mqtt.js and not yet acknowledged: a stalled socket holds no more than this. */
const MAX_IN_FLIGHT = 64;
/** Events arrive in bursts (a recorder exit, a gap): their camera's state is read once per burst. */
const STATE_COALESCE_MS = 50;
/** A clean stop sends what is queued and `offline` within this, then disconnects anyway. */
const STOP_FLUSH_MS = 2000;

export interface MqttBridgeDeps {
  config: MqttConfig;
  db: Db;
  clock: Clock;
  events: EventLog;
  /** The service behind `GET /cameras/:id/snapshot.jpg`. */
  snapshots: { snapshot(cameraId: string, atMs: number, width: number | undefined, signal?: AbortSignal): Promise<Snapshot> };
  audit: AuditLog;
  live?: { stats(cameraId: string): LiveStats };
  /** Motion detection: each camera's detector state and its changes (motion ON/OFF). */
  motion?: {
    status(cameraId: string): { state: string };
    onChange(listener: (c: { cameraId: string; active: boolean }) => void): () => void;
  };
  log: Logger;
  vigilVersion: string;
}

export interface MqttBridgeStats {
  connected: boolean;
  queued: number;
  /** Events dropped because the broker was away while more than MAX_QUEUED_EVENTS waited. */
  droppedEvents: number;
  /** Handed to mqtt.js, not yet acknowledged. */
  inFlight: number;
  published: number;
}

interface KnownCamera {
  id: string;
  name: string;
  enabled: boolean;
}

/**
 * Vigil on an MQTT broker (docs/api.md, "MQTT"): availability with a retained last will, per-camera
 * state, events, snapshots on request, Home Assistant discovery. Nothing in recording waits for it:
 * the event listener only queues, the queue is bounded, and publishing is fire-and-forget; mqtt.js
 * reconnects on its own with a period that doubles up to RECONNECT_MAX_MS.
 */
export class MqttBridge {
  private readonly topics: MqttTopics;
  private readonly discovery: Discovery;
  private readonly queue = new PublishQueue(MAX_QUEUED_EVENTS);
  private readonly inFlight = new Set<number>();
  private client: MqttClient | undefined;
  private publishSeq = 0;
  private publishedCount = 0;
  private draining = false;
  /** The cameras last published, and the discovery configs they (and the node) should have. */
  private cameras = new Map<string, KnownCamera>();
  private configTopics = new Set<string>();
  private readonly pendingStates = new Map<string, { discovery: boolean }>();
  private stateTimer: NodeJS.Timeout | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly work = new Set<Promise<void>>();
  private readonly snapshotting = new Set<string>();
  private readonly abort = new AbortController();
  private unsubscribe: (() => void) | undefined;
  private unsubscribeMotion: (() => void) | undefined;
  /** Since when the broker has been away, and the drop count then (one warning per outage). */
  private outage: { sinceMs: number; droppedBefore: number; lastError: string | undefined } | undefined;
  private stopping = false;

  constructor(private readonly d: MqttBridgeDeps) {
    this.topics = new MqttTopics(d.config);
    this.discovery = new Discovery(this.topics, d.vigilVersion);
  }

  /** Connects in the background: a broker that is down delays nothing, not even start-up. */
  async start(): Promise<void> {
    const { config, log } = this.d;
    const options = await clientOptions(config, this.topics.availability);
    this.unsubscribe = this.d.events.subscribe((e) => this.onEvent(e));
    // Motion ON/OFF at once (not coalesced with the other state): an automation waits for it.
    this.unsubscribeMotion = this.d.motion?.onChange((c) => {
      if (this.stopping || !this.client?.connected || !this.cameras.has(c.cameraId)) return;
      this.enqueue({ topic: this.topics.camera(c.cameraId, 'motion'), payload: c.active ? 'ON' : 'OFF', retain: true, qos: 1 });
    });
    this.outage = { sinceMs: this.d.clock.nowMs(), droppedBefore: 0, lastError: undefined };
    const client = connect(config.url, options);
    this.client = client;
    client.on('connect', () => this.onConnect());
    // Emitted before each attempt: the wait after this one, should it fail, is twice as long.
    client.on('reconnect', () => {
      client.options.reconnectPeriod = Math.min((client.options.reconnectPeriod ?? RECONNECT_INITIAL_MS) * 2, RECONNECT_MAX_MS);
    });
    client.on('close', () => this.onClose());
    client.on('error', (err) => this.onError(err));
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet.retain));
    this.every(config.publishIntervalSeconds, () => this.refresh({ discovery: false }));
    if (config.snapshotIntervalSeconds > 0) {
      this.every(config.snapshotIntervalSeconds, async () => {
        for (const id of this.cameras.keys()) this.track(this.publishSnapshot(id, false));
      });
    }
    log.info({ broker: config.url, clientId: config.clientId, topicPrefix: config.topicPrefix }, 'MQTT bridge connecting');
  }

  /** Sends what is queued and `offline` (retained), then disconnects; bounded in time. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.stateTimer);
    this.unsubscribe?.();
    this.unsubscribeMotion?.();
    this.abort.abort();
    await Promise.allSettled([...this.work]);
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      this.enqueue({ topic: this.topics.availability, payload: 'offline', retain: true, qos: 1 });
      const flushed = AbortSignal.timeout(STOP_FLUSH_MS);
      while ((this.queue.size > 0 || this.inFlight.size > 0) && client.connected && !flushed.aborted) await sleep(10);
    }
    // A clean DISCONNECT: the broker discards the last will (`offline` was just published instead).
    await Promise.race([client.endAsync(), sleep(STOP_FLUSH_MS)]).catch(() => undefined);
    if (!client.disconnected) await client.endAsync(true).catch(() => undefined);
    this.d.log.info({ published: this.publishedCount, droppedEvents: this.queue.dropped }, 'MQTT bridge stopped');
  }

  stats(): MqttBridgeStats {
    return {
      connected: this.client?.connected ?? false,
      queued: this.queue.size,
      droppedEvents: this.queue.dropped,
      inFlight: this.inFlight.size,
      published: this.publishedCount,
    };
  }

  private onConnect(): void {
    const client = this.client as MqttClient;
    client.options.reconnectPeriod = RECONNECT_INITIAL_MS;
    const outage = this.outage;
    this.outage = undefined;
    const dropped = outage ? this.queue.dropped - outage.droppedBefore : 0;
    this.d.log.info(
      { broker: this.d.config.url, ...(outage ? { awaySeconds: (this.d.clock.nowMs() - outage.sinceMs) / 1000 } : {}), ...(dropped > 0 ? { droppedEvents: dropped } : {}) },
      'connected to the MQTT broker',
    );
    this.enqueue({ topic: this.topics.availability, payload: 'online', retain: true, qos: 1 });
    this.track(this.refresh({ discovery: true, subscribe: true }));
  }

  private onClose(): void {
    this.inFlight.clear();
    if (this.outage || this.stopping) return;
    this.outage = { sinceMs: this.d.clock.nowMs(), droppedBefore: this.queue.dropped, lastError: undefined };
    this.d.log.warn({ broker: this.d.config.url }, 'MQTT broker connection lost; reconnecting (recording goes on)');
  }

  /** mqtt.js reports every failed attempt; each different reason is logged once per outage. */
  private onError(err: Error): void {
    if (this.outage && this.outage.lastError === err.message) return;
    if (this.outage) this.outage.lastError = err.message;
    this.d.log.warn({ err, broker: this.d.config.url }, 'MQTT broker error');
  }

  /** Called by the event log for every stored event: queues only, never throws, never waits. */
  private onEvent(e: NewEvent & { id: number }): void {
    try {
      this.enqueue({ topic: this.topics.event(e.type), payload: JSON.stringify(eventMessage(e)), retain: false, qos: 1 });
      if (e.cameraId === null) return;
      if (e.type === 'camera_deleted') this.removeCamera(e.cameraId);
      else this.scheduleState(e.cameraId, e.type === 'camera_created' || e.type === 'camera_updated');
    } catch (err) {
      this.d.log.error({ err, event: e.type }, 'MQTT: event not queued');
    }
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    const t = this.topics;
    if (topic === t.discoveryStatus) {
      // Home Assistant (re)started: it asks for every config, and the states that go with them.
      if (payload.toString() === 'online') this.track(this.refresh({ discovery: true }));
      return;
    }
    const requested = t.cameraOf(topic, 'snapshot/request');
    if (requested !== undefined) {
      if (this.cameras.has(requested)) this.track(this.publishSnapshot(requested, true));
      return;
    }
    // Retained messages of a past run: configs and states of cameras deleted while Vigil was away.
    if (!retained || payload.length === 0) return;
    const stateOf = t.cameraOf(topic, 'state');
    if (stateOf !== undefined) {
      if (!this.cameras.has(stateOf)) this.removeCamera(stateOf);
    } else if (!this.configTopics.has(topic)) {
      this.enqueue({ topic, payload: '', retain: true, qos: 1 });
    }
  }

  /**
   * Reads the cameras and their states and publishes them: with `discovery`, every config too; with
   * `subscribe` (a new connection), then subscribes — after the configs are known, so that a retained
   * config or state found on subscribing can be told from a current one.
   */
  private async refresh(o: { discovery: boolean; subscribe?: boolean }): Promise<void> {
    if (this.stopping || !this.client?.connected) return;
    await this.loadCameras();
    if (o.discovery) this.publishDiscovery([...this.cameras.values()]);
    await this.publishStates([...this.cameras.keys()]);
    const client = this.client;
    if (o.subscribe && client.connected && !this.stopping) {
      const filters = [this.topics.snapshotRequests, this.topics.cameraStates, this.topics.discoveryConfigs];
      if (this.d.config.discovery.enabled) filters.push(this.topics.discoveryStatus);
      client.subscribe(filters, { qos: 1 }, (err) => {
        if (err && !this.stopping) this.d.log.warn({ err }, 'MQTT subscribe failed');
      });
    }
  }

  private async loadCameras(): Promise<void> {
    const rows = await listCameras(this.d.db);
    this.cameras = new Map(rows.map((c) => [c.id, { id: c.id, name: c.name, enabled: c.enabled }]));
    // With discovery off, no config is current: those a past run left are removed.
    this.configTopics = new Set(
      this.d.config.discovery.enabled ? [this.discovery.node(), ...rows.flatMap((c) => this.discovery.camera(c))].map((m) => m.topic) : [],
    );
  }

  private publishDiscovery(cameras: KnownCamera[]): void {
    if (!this.d.config.discovery.enabled) return;
    for (const m of [this.discovery.node(), ...cameras.flatMap((c) => this.discovery.camera(c))]) {
      this.enqueue({ topic: m.topic, payload: m.payload, retain: true, qos: 1 });
    }
  }

  private async publishStates(ids: string[]): Promise<void> {
    const statuses = new Map((await listStatuses(this.d.db)).map((s) => [s.cameraId, s]));
    const nowMs = this.d.clock.nowMs();
    for (const id of ids) {
      const cam = this.cameras.get(id);
      if (!cam) continue;
      const state = cameraState({ ...cam, status: statuses.get(id), liveBitrateBps: this.d.live?.stats(id).bitrateBps ?? null }, nowMs);
      this.enqueue({ topic: this.topics.camera(id, 'state'), payload: JSON.stringify(state), retain: true, qos: 1 });
      this.enqueue({ topic: this.topics.camera(id, 'online'), payload: state.online ? 'ON' : 'OFF', retain: true, qos: 1 });
      this.enqueue({ topic: this.topics.camera(id, 'motion'), payload: this.d.motion?.status(id).state === 'motion' ? 'ON' : 'OFF', retain: true, qos: 1 });
    }
  }

  /** A camera's state (and, when it was created or changed, its configs) soon, once per burst of events. */
  private scheduleState(cameraId: string, discovery: boolean): void {
    if (this.stopping || !this.client?.connected) return; // a new connection publishes everything
    this.pendingStates.set(cameraId, { discovery: discovery || (this.pendingStates.get(cameraId)?.discovery ?? false) });
    this.stateTimer ??= setTimeout(() => {
      this.stateTimer = undefined;
      const pending = new Map(this.pendingStates);
      this.pendingStates.clear();
      this.track(
        (async () => {
          await this.loadCameras();
          this.publishDiscovery([...pending].filter(([, p]) => p.discovery).flatMap(([id]) => this.cameras.get(id) ?? []));
          await this.publishStates([...pending.keys()]);
        })(),
      );
    }, STATE_COALESCE_MS);
  }

  /** Empty retained payloads: the broker forgets the camera's state and snapshot, Home Assistant its entities. */
  private removeCamera(cameraId: string): void {
    this.cameras.delete(cameraId);
    for (const m of this.discovery.removeCamera(cameraId)) {
      this.configTopics.delete(m.topic);
      this.enqueue({ topic: m.topic, payload: '', retain: true, qos: 1 });
    }
    for (const what of CAMERA_RETAINED) this.enqueue({ topic: this.topics.camera(cameraId, what), payload: '', retain: true, qos: 1 });
  }

  /**
   * The last frame of the camera's newest segment, as the snapshot route decodes it. One at a time per
   * camera (requests meanwhile are answered by the one running). A request is footage access: it is
   * audited before the image leaves, and without its audit row it does not leave.
   */
  private async publishSnapshot(cameraId: string, requested: boolean): Promise<void> {
    if (this.snapshotting.has(cameraId) || this.stopping || !this.client?.connected) return;
    this.snapshotting.add(cameraId);
    try {
      const segment = await lastSegment(this.d.db, cameraId);
      if (!segment) {
        this.d.log.debug({ cameraId }, 'MQTT snapshot: no footage yet');
        return;
      }
      const shot = await this.d.snapshots.snapshot(cameraId, segment.endMs - 1, undefined, this.abort.signal);
      if (requested) {
        await this.d.audit.write({
          principal: null,
          system: true,
          actorName: 'mqtt',
          action: 'footage.snapshot',
          target: `camera:${cameraId}`,
          requestId: null,
          clientAddr: null,
          outcome: 'success',
          statusCode: null,
          detail: { via: 'mqtt', topic: this.topics.camera(cameraId, 'snapshot'), frame_at: toIso(shot.frameMs) },
        });
      }
      this.enqueue({ topic: this.topics.camera(cameraId, 'snapshot'), payload: shot.jpeg, retain: true, qos: 1 });
    } catch (err) {
      if (!this.stopping) this.d.log.warn({ err, cameraId }, 'MQTT snapshot failed');
    } finally {
      this.snapshotting.delete(cameraId);
    }
  }

  private enqueue(m: OutgoingMessage): void {
    if (this.queue.push(m) && this.outage && this.queue.dropped - this.outage.droppedBefore === 1) {
      this.d.log.warn({ kept: MAX_QUEUED_EVENTS }, 'MQTT broker away: dropping the oldest queued events');
    }
    this.drain();
  }

  /** Hands queued messages to mqtt.js while connected, at most MAX_IN_FLIGHT unacknowledged. */
  private drain(): void {
    const client = this.client;
    if (this.draining || !client?.connected) return;
    this.draining = true;
    try {
      while (this.inFlight.size < MAX_IN_FLIGHT) {
        const m = this.queue.shift();
        if (!m) break;
        const id = ++this.publishSeq;
        this.inFlight.add(id);
        client.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain }, (err) => {
          this.inFlight.delete(id);
          if (err) this.d.log.debug({ err, topic: m.topic }, 'MQTT publish failed');
          else this.publishedCount++;
          setImmediate(() => this.drain());
        });
      }
    } finally {
      this.draining = false;
    }
  }

  private every(seconds: number, fn: () => Promise<void>): void {
    this.timers.push(setInterval(() => this.track(fn()), seconds * 1000));
  }

  /** Background work the stop waits for; its failure is logged, never thrown at the event loop. */
  private track(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => {
      if (!this.stopping) this.d.log.error({ err }, 'MQTT bridge work failed');
    });
    this.work.add(tracked);
    void tracked.finally(() => this.work.delete(tracked));
  }
}
