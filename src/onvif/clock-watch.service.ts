import type { Logger } from 'pino';
import type { CameraRow } from '../db/camera.repo.js';
import type { EventLog } from '../events/event-log.js';
import type { Clock } from '../shared/clock.js';
import { errorMessage } from '../shared/errors.js';
import { redactUrl } from '../shared/redact.js';
import { sleep } from '../shared/sleep.js';
import { toIso } from '../shared/time.js';
import type { ClockReading } from './device-client.js';
import { CLOCK_DRIFT_LIMIT_MS } from './onvif.service.js';

/** A camera's clock as last read. */
export interface CameraClockState {
  driftMs: number;
  cameraUtcMs: number;
  checkedAtMs: number;
  drifting: boolean;
}

export interface ClockWatchDeps {
  clock: Clock;
  events: EventLog;
  log: Logger;
  /** Cameras now (enabled or not; only those with an `onvif_url` are read). */
  cameras: () => Promise<CameraRow[]>;
  readClock: (onvifUrl: string, mainUrl: string) => Promise<ClockReading>;
  /** 0 disables the watch. */
  intervalSeconds: number;
}

/**
 * Edge refills render replay URLs from wall-clock times, so a camera whose clock is off pulls the
 * wrong span. Every `intervalSeconds` (and at once when a camera is added or changed) this reads the
 * clock of each camera with an `onvif_url` and emits `camera_clock_drift` (warning) when it is more
 * than 2 s off, `camera_clock_ok` when it comes back; the last reading shows in the camera's status.
 */
export class CameraClockWatch {
  private readonly states = new Map<string, CameraClockState>();
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  /** A camera changed: the loop runs a check now instead of at the next interval. */
  private wake: (() => void) | undefined;
  private wakePending = false;

  constructor(private readonly d: ClockWatchDeps) {}

  /** The last reading of a camera's clock, if it has been read. */
  state(cameraId: string): CameraClockState | undefined {
    return this.states.get(cameraId);
  }

  start(): void {
    if (this.d.intervalSeconds <= 0 || this.loop) return;
    this.abort = new AbortController();
    this.unsubscribe = this.d.events.subscribe((e) => {
      if (e.type === 'camera_created' || e.type === 'camera_updated') this.poke();
    });
    this.loop = this.run(this.abort.signal);
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.abort.abort();
    this.wake?.();
    await this.loop;
    this.loop = undefined;
  }

  /** Reads every camera's clock once, one camera at a time. */
  async checkAll(signal?: AbortSignal): Promise<void> {
    const cameras = (await this.d.cameras()).filter((c) => c.onvifUrl);
    const ids = new Set(cameras.map((c) => c.id));
    for (const id of this.states.keys()) if (!ids.has(id)) this.states.delete(id);
    for (const cam of cameras) {
      if (signal?.aborted) return;
      await this.checkOne(cam);
    }
  }

  private async checkOne(cam: CameraRow): Promise<void> {
    let reading: ClockReading;
    try {
      reading = await this.d.readClock(cam.onvifUrl as string, cam.mainUrl);
    } catch (err) {
      // A camera that does not answer keeps its last reading; recording problems are reported elsewhere.
      this.d.log.warn({ cameraId: cam.id, err: redactUrl(errorMessage(err)) }, 'camera clock not read');
      return;
    }
    const drifting = Math.abs(reading.driftMs) > CLOCK_DRIFT_LIMIT_MS;
    const before = this.states.get(cam.id);
    this.states.set(cam.id, { driftMs: reading.driftMs, cameraUtcMs: reading.cameraUtcMs, checkedAtMs: this.d.clock.nowMs(), drifting });
    if (drifting === (before?.drifting ?? false)) return;
    const payload = { drift_ms: reading.driftMs, camera_utc: toIso(reading.cameraUtcMs), limit_ms: CLOCK_DRIFT_LIMIT_MS };
    await this.d.events.emit(
      drifting
        ? { type: 'camera_clock_drift', severity: 'warning', cameraId: cam.id, requestId: null, payload }
        : { type: 'camera_clock_ok', cameraId: cam.id, requestId: null, payload },
    );
  }

  private poke(): void {
    this.wakePending = true;
    this.wake?.();
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.wakePending = false;
      try {
        await this.checkAll(signal);
      } catch (err) {
        this.d.log.error({ err }, 'camera clock check failed');
      }
      if (this.wakePending) continue;
      const woken = new AbortController();
      this.wake = () => woken.abort();
      const onStop = () => woken.abort();
      signal.addEventListener('abort', onStop, { once: true });
      await sleep(this.d.intervalSeconds * 1000, woken.signal);
      signal.removeEventListener('abort', onStop);
      this.wake = undefined;
    }
  }
}
