import type { Logger } from 'pino';
import type { EventLog } from '../events/event-log.js';
import type { Clock } from '../shared/clock.js';
import { quarterSecondTick } from '../shared/shared-tick.js';
import { probeDisk, type DiskProbe, type DiskSpace } from './disk.js';

const MiB = 1024 * 1024;
/** Less free than this and the disk counts as full: the next fragment will not fit. */
export const FULL_BELOW_BYTES = 1 * MiB;
/**
 * The disk is looked at every fourth beat of the quarter-second tick (once a second): on the tick's
 * wake-up, not on a timer of its own. A wake-up of Node costs ~200 µs of a core on this project's VMs
 * whatever it does (docs/proof.md, issue 17, twenty-third session).
 */
const CHECK_EVERY_BEATS = 4;
/**
 * While the disk is full or under the floor, a sweep is asked for at most this often; a sweep that
 * frees nothing (all held, or the space taken by something else) doubles the wait, up to the max.
 */
const SWEEP_MIN_GAP_MS = 2000;
const SWEEP_MAX_GAP_MS = 30_000;

export interface StorageWatchDeps {
  /** The folder ffmpeg writes to (`<data>/recordings`), measured with statfs. */
  recordingsDir: string;
  clock: Clock;
  events: EventLog;
  log: Logger;
  /** Free bytes retention keeps (`retention.min_free_bytes`) on a disk of `totalBytes`. */
  floorBytes: (totalBytes: number) => number;
  /** Runs a retention sweep now (or joins the one in progress); resolves with the bytes it freed. */
  sweep: () => Promise<number>;
  disk?: DiskProbe;
}

export interface StorageStatus {
  full: boolean;
  free_bytes: number | null;
  total_bytes: number | null;
  /** Present while full. Camera ids stay out: readiness answers without credentials. */
  reason?: string;
  since?: string;
}

interface FullEpisode {
  sinceMs: number;
}

/**
 * Watches the recordings disk. It is full when a recorder's ffmpeg failed with "No space left on
 * device", or when statfs shows less than a fragment's worth free; then a critical `disk_full` event
 * is raised once, readiness fails, recorders wait for room, and retention is asked to sweep (not at
 * its next interval: recording is stopped meanwhile). It is writable again once the free space is
 * back above the retention floor, so recording does not restart only to fail a moment later.
 * Between sweeps, a disk that falls under the floor gets a sweep at once, before it fills.
 */
export class StorageWatch {
  private unwatch: (() => void) | undefined;
  private stopped = false;
  /** The look at the disk under way; the next beat due skips while it runs (a slow statfs is not piled on). */
  private checking: Promise<void> | undefined;
  private full: FullEpisode | undefined;
  private last: DiskSpace | undefined;
  private waiters = new Set<() => void>();
  private sweeping: Promise<unknown> | undefined;
  private lastSweepMs = -Infinity;
  private sweepGapMs = SWEEP_MIN_GAP_MS;
  private readonly disk: DiskProbe;

  constructor(private readonly d: StorageWatchDeps) {
    this.disk = d.disk ?? probeDisk;
  }

  /** Looks at the disk now, then once a second until `stop`. */
  start(): void {
    if (this.unwatch || this.stopped) return;
    let beats = 0;
    this.unwatch = quarterSecondTick.watch(() => {
      if (++beats < CHECK_EVERY_BEATS || this.checking) return;
      beats = 0;
      this.checkInBackground();
    });
    this.checkInBackground();
  }

  /** Ends the looks (the one under way is awaited) and lets waiting recorders go; a sweep it asked for is awaited by retention's stop(). */
  async stop(): Promise<void> {
    this.stopped = true; // for good: a later start() does nothing, and no sweep is asked for
    this.unwatch?.();
    this.unwatch = undefined;
    await this.checking;
    this.release();
  }

  private checkInBackground(): void {
    this.checking = this.check()
      .catch((err: unknown) => this.d.log.error({ err }, 'checking the recordings disk failed'))
      .finally(() => {
        this.checking = undefined;
      });
  }

  get isFull(): boolean {
    return this.full !== undefined;
  }

  status(): StorageStatus {
    const space = { free_bytes: this.last?.freeBytes ?? null, total_bytes: this.last?.totalBytes ?? null };
    if (!this.full) return { full: false, ...space };
    return {
      full: true,
      ...space,
      reason: 'recordings disk is full (No space left on device): recording is stopped until space is freed',
      since: new Date(this.full.sinceMs).toISOString(),
    };
  }

  /** One look at the disk: enter or leave the full state, and ask for a sweep when space is short. */
  async check(): Promise<void> {
    const space = await this.probe();
    const floor = this.d.floorBytes(space.totalBytes);
    if (!this.full && space.freeBytes < FULL_BELOW_BYTES) await this.enterFull(undefined, `free space ${space.freeBytes} B`, () => Promise.resolve(space));
    else if (this.full && space.freeBytes >= this.resumeBytes(space.totalBytes, floor)) await this.leaveFull(space);
    if (this.full || space.freeBytes < floor) this.requestSweep();
  }

  async noSpace(cameraId: string, detail: string): Promise<void> {
    if (!this.full) await this.enterFull(cameraId, detail, () => this.probe());
    this.requestSweep();
  }

  whenWritable(signal: AbortSignal, maxWaitMs: number): Promise<void> {
    if (!this.full || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, maxWaitMs);
      signal.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }

  /**
   * Room to resume: the retention floor, and at least a little more than "full" (no flapping); at
   * most half the disk, so a floor set larger than a small disk does not stop recording for good.
   */
  private resumeBytes(totalBytes: number, floor: number): number {
    return Math.min(Math.max(floor, Math.min(64 * MiB, 0.02 * totalBytes), 2 * FULL_BELOW_BYTES), totalBytes / 2);
  }

  private async probe(): Promise<DiskSpace> {
    this.last = await this.disk(this.d.recordingsDir);
    return this.last;
  }

  /** Enters the full state at once (so two reports raise one event), then says so with the space left. */
  private async enterFull(cameraId: string | undefined, detail: string, measure: () => Promise<DiskSpace>): Promise<void> {
    this.full = { sinceMs: this.d.clock.nowMs() };
    this.sweepGapMs = SWEEP_MIN_GAP_MS;
    this.lastSweepMs = -Infinity;
    const space = await measure().catch(() => undefined);
    await this.d.events.emit({
      type: 'disk_full',
      severity: 'critical',
      cameraId: cameraId ?? null,
      requestId: null,
      payload: {
        reason: 'recordings disk is full (No space left on device)',
        path: this.d.recordingsDir,
        free_bytes: space?.freeBytes ?? null,
        total_bytes: space?.totalBytes ?? null,
        detected_by: cameraId ? 'recorder' : 'statfs',
        detail,
      },
    });
  }

  private async leaveFull(space: DiskSpace): Promise<void> {
    const since = this.full?.sinceMs ?? this.d.clock.nowMs();
    this.full = undefined;
    await this.d.events.emit({
      type: 'disk_space_recovered',
      requestId: null,
      payload: { free_bytes: space.freeBytes, total_bytes: space.totalBytes, full_seconds: Math.round((this.d.clock.nowMs() - since) / 100) / 10 },
    });
    this.release();
  }

  private release(): void {
    for (const w of [...this.waiters]) w();
  }

  private requestSweep(): void {
    const now = this.d.clock.nowMs();
    if (this.sweeping || this.stopped || now - this.lastSweepMs < this.sweepGapMs) return;
    this.lastSweepMs = now;
    this.sweeping = this.d
      .sweep()
      .then((freedBytes) => {
        this.sweepGapMs = freedBytes > 0 ? SWEEP_MIN_GAP_MS : Math.min(2 * this.sweepGapMs, SWEEP_MAX_GAP_MS);
      })
      .catch((err: unknown) => this.d.log.error({ err }, 'retention sweep for disk space failed'))
      .finally(() => {
        this.sweeping = undefined;
      });
  }
}
