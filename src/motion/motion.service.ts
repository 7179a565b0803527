/**
 * Motion detection for every camera that asks for it: one MotionWatch per enabled camera with
 * `motion.enabled`, in step with the cameras table; each interval written to the catalog when it ends
 * (with the JPEG of its peak frame); `motion_started` / `motion_ended` events, rate-limited per camera.
 */
import type { Logger } from 'pino';
import type { CameraRow } from '../db/camera.repo.js';
import type { Db } from '../db/connection.js';
import { insertMotionInterval } from '../db/motion.repo.js';
import type { EventLog } from '../events/event-log.js';
import { MOTION_HEIGHT, MOTION_WIDTH } from '../media/motion-args.js';
import type { ThumbnailEncoder } from '../media/thumbnail-jpeg.js';
import type { MotionInterval } from './motion-tracker.js';
import { MotionWatch, type MotionLiveFeed, type MotionState, type MotionWatchDeps } from './motion-watch.js';

export interface MotionServiceDeps extends Omit<MotionWatchDeps, 'log'> {
  db: Db;
  events: EventLog;
  log: Logger;
  /** A detector on the sub-stream feeds its live viewers (one camera session for both). */
  subFeed?: (cameraId: string, url: string) => MotionLiveFeed;
  encodeThumbnail: ThumbnailEncoder;
}

/** A change of what a camera's detector sees (for MQTT, metrics). */
export interface MotionChange {
  cameraId: string;
  active: boolean;
  atMs: number;
  zones: string[];
  /** Set when an interval ended and was written. */
  interval?: { id: number; startMs: number; endMs: number; peakScore: number };
}

/** Events per camera: a burst of this many, then one per EVENT_REFILL_MS (intervals are all written regardless). */
const EVENT_BURST = 6;
const EVENT_REFILL_MS = 10_000;

interface EventBudget {
  tokens: number;
  atMs: number;
  suppressed: number;
  /** The open interval's motion_started went out, so its motion_ended goes out too. */
  announced: boolean;
}

function settingsKey(c: CameraRow): string {
  return JSON.stringify([c.subUrl ?? c.mainUrl, c.motion]);
}

export class MotionService {
  private readonly watches = new Map<string, MotionWatch>();
  private readonly states = new Map<string, { state: MotionState; error: string | null; lastMotionAtMs: number | null }>();
  private readonly budgets = new Map<string, EventBudget>();
  private readonly listeners = new Set<(c: MotionChange) => void>();
  private readonly pending = new Set<Promise<void>>();
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly d: MotionServiceDeps) {}

  /** Start, stop or restart detectors so that exactly the enabled cameras with motion enabled are watched. Calls are serialised. */
  sync(cameras: CameraRow[]): Promise<void> {
    const run = this.chain.then(() => this.apply(cameras));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async apply(cameras: CameraRow[]): Promise<void> {
    if (this.stopped) return;
    const wanted = new Map(cameras.filter((c) => c.enabled && c.motion.enabled).map((c) => [c.id, c]));
    const stops: Promise<void>[] = [];
    for (const [id, w] of this.watches) {
      const want = wanted.get(id);
      if (!want || settingsKey(want) !== JSON.stringify([w.url, w.settings])) {
        this.watches.delete(id);
        stops.push(w.stop());
      }
    }
    await Promise.all(stops);
    // The intervals the stopped detectors closed are written before the change is answered.
    if (stops.length > 0) await Promise.all([...this.pending]);
    for (const [id, cam] of wanted) {
      if (this.watches.has(id)) continue;
      const watch = new MotionWatch(id, cam.subUrl ?? cam.mainUrl, cam.motion, { ...this.d, log: this.d.log }, {
        started: (cameraId, atMs, zones) => this.onStarted(cameraId, atMs, zones),
        ended: (cameraId, interval, frame) => this.track(this.onEnded(cameraId, interval, frame)),
        state: (cameraId, state, error) => this.onState(cameraId, state, error),
      }, cam.subUrl !== null ? this.d.subFeed?.(id, cam.subUrl) : undefined);
      this.watches.set(id, watch);
      watch.start();
    }
    for (const id of this.states.keys()) if (!wanted.has(id)) this.states.delete(id);
  }

  /** Stops every detector; open intervals are closed and written before this resolves. */
  async stopAll(): Promise<void> {
    this.stopped = true;
    await this.chain;
    const all = [...this.watches.values()];
    this.watches.clear();
    await Promise.all(all.map((w) => w.stop()));
    await Promise.all([...this.pending]);
  }

  /** A camera's detector as an operator reads it. */
  status(cameraId: string): { state: MotionState; error: string | null; lastMotionAtMs: number | null } {
    return this.states.get(cameraId) ?? { state: 'off', error: null, lastMotionAtMs: null };
  }

  /** The pid of a camera's detector ffmpeg (tests kill it). */
  pid(cameraId: string): number | undefined {
    return this.watches.get(cameraId)?.pid;
  }

  onChange(listener: (c: MotionChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private onState(cameraId: string, state: MotionState, error: string | null): void {
    const cur = this.states.get(cameraId);
    this.states.set(cameraId, { state, error, lastMotionAtMs: cur?.lastMotionAtMs ?? null });
  }

  private budget(cameraId: string): EventBudget {
    const now = this.d.clock.nowMs();
    const b = this.budgets.get(cameraId) ?? { tokens: EVENT_BURST, atMs: now, suppressed: 0, announced: false };
    b.tokens = Math.min(EVENT_BURST, b.tokens + (now - b.atMs) / EVENT_REFILL_MS);
    b.atMs = now;
    this.budgets.set(cameraId, b);
    return b;
  }

  private onStarted(cameraId: string, atMs: number, zones: string[]): void {
    const s = this.states.get(cameraId);
    if (s) s.lastMotionAtMs = atMs;
    for (const l of this.listeners) l({ cameraId, active: true, atMs, zones });
    const b = this.budget(cameraId);
    b.announced = b.tokens >= 1;
    if (!b.announced) {
      b.suppressed++;
      return;
    }
    b.tokens -= 1;
    const suppressed = b.suppressed;
    b.suppressed = 0;
    void this.d.events.emit({
      type: 'motion_started',
      cameraId,
      requestId: null,
      payload: { at: new Date(atMs).toISOString(), zones, ...(suppressed > 0 ? { suppressed_since_last: suppressed } : {}) },
    });
  }

  private async onEnded(cameraId: string, m: MotionInterval, frame: Uint8Array): Promise<void> {
    let jpeg: Buffer | null = null;
    try {
      jpeg = await this.d.encodeThumbnail(frame, MOTION_WIDTH, MOTION_HEIGHT);
    } catch (err) {
      this.d.log.warn({ err, cameraId }, 'motion thumbnail not made');
    }
    let id: number;
    try {
      id = await insertMotionInterval(this.d.db, { cameraId, startMs: m.startMs, endMs: m.endMs, peakScore: m.peakScore, peakAtMs: m.peakAtMs, zones: m.zones, jpeg }, this.d.clock.nowMs());
    } catch (err) {
      this.d.log.error({ err, cameraId }, 'motion interval not written');
      return;
    }
    for (const l of this.listeners) l({ cameraId, active: false, atMs: m.endMs, zones: m.zones, interval: { id, startMs: m.startMs, endMs: m.endMs, peakScore: m.peakScore } });
    const b = this.budgets.get(cameraId);
    if (!b?.announced) return;
    b.announced = false;
    await this.d.events.emit({
      type: 'motion_ended',
      cameraId,
      requestId: null,
      payload: {
        motion_id: id,
        start: new Date(m.startMs).toISOString(),
        end: new Date(m.endMs).toISOString(),
        seconds: Math.round((m.endMs - m.startMs) / 100) / 10,
        peak_score: Math.round(m.peakScore * 100) / 100,
        zones: m.zones,
      },
    });
  }
}
