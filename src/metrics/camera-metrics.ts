import { Counter, Gauge, type Registry } from 'prom-client';
import { listStatuses } from '../db/camera-status.repo.js';
import { listCameras } from '../db/camera.repo.js';
import type { Db } from '../db/connection.js';
import type { GapFillState } from '../db/gap.repo.js';
import { gapTotalsByCamera } from '../db/metrics.repo.js';
import type { CameraState } from '../db/schema.js';
import type { Clock } from '../shared/clock.js';

export const CAMERA_STATES = ['disabled', 'connecting', 'recording', 'offline', 'error'] as const satisfies readonly CameraState[];
export const FILL_STATES = ['pending', 'filling', 'filled', 'partial', 'failed', 'not_applicable'] as const satisfies readonly GapFillState[];

export interface CameraMetricsDeps {
  db: Db;
  clock: Clock;
  /** The live stream's bitrate, which the API shows until a camera's first segment is indexed. */
  liveBitrateBps(cameraId: string): number | null;
  /** The indexer's feed of rows written (`Indexer.onIndexed`): camera and file size. */
  indexed(listener: (cameraId: string, sizeBytes: number) => void): () => void;
  /** Motion detection: each camera's detector state, and the feed of intervals written. */
  motion?: {
    status(cameraId: string): { state: string };
    onChange(listener: (c: { cameraId: string; interval?: unknown }) => void): () => void;
  };
}

/**
 * The per-camera families, read from the catalog when Prometheus scrapes: one query each for the
 * cameras, their status rows and their gaps, whatever the number of cameras. Values are the ones
 * `GET /cameras/:id/status` shows. Bytes written are counted as rows are written instead: a sum over
 * every footage row would read the whole segments table at each scrape (0.7 s and the event loop
 * held at 1.3 M rows). The `camera` label is a configured camera id (a slug an admin chose), never
 * anything from the scraping request. Deleted cameras drop out of the catalog-read families.
 */
export class CameraMetrics {
  private readonly state: Gauge<'camera' | 'state'>;
  private readonly segments: Counter<'camera'>;
  private readonly bytesWritten: Counter<'camera'>;
  private readonly bitrate: Gauge<'camera'>;
  private readonly reconnects: Counter<'camera'>;
  private readonly lastSegmentAge: Gauge<'camera'>;
  private readonly gaps: Gauge<'camera' | 'fill_state'>;
  private readonly gapSeconds: Gauge<'camera' | 'fill_state'>;
  private readonly motionActive: Gauge<'camera'>;
  private readonly motionIntervals: Counter<'camera'>;
  private readonly unsubscribe: () => void;
  private readonly unsubscribeMotion: () => void;

  constructor(private readonly d: CameraMetricsDeps, registry: Registry) {
    const registers = [registry];
    this.state = new Gauge({ name: 'vigil_camera_state', help: 'Recorder state of each camera: 1 for its current state, 0 for the others.', labelNames: ['camera', 'state'], registers });
    this.segments = new Counter({ name: 'vigil_camera_segments_written_total', help: 'Segments indexed for the camera since it was added (the status counter segments_written).', labelNames: ['camera'], registers });
    this.bytesWritten = new Counter({ name: 'vigil_camera_bytes_written_total', help: 'Bytes of the segment files indexed for the camera (live, recovered and refilled) since this Vigil started.', labelNames: ['camera'], registers });
    this.bitrate = new Gauge({ name: 'vigil_camera_bitrate_bps', help: 'Bitrate of the camera\'s last indexed segment (of the live stream before the first one), bits per second.', labelNames: ['camera'], registers });
    this.reconnects = new Counter({ name: 'vigil_camera_reconnects_total', help: 'Times the camera\'s recorder exited and was restarted (the status counter reconnect_count).', labelNames: ['camera'], registers });
    this.lastSegmentAge = new Gauge({ name: 'vigil_camera_last_segment_age_seconds', help: 'Seconds since the end of the camera\'s newest indexed segment (absent before its first).', labelNames: ['camera'], registers });
    this.gaps = new Gauge({ name: 'vigil_camera_gaps', help: 'Recording gaps (holes over 3 s) of the camera, by refill state.', labelNames: ['camera', 'fill_state'], registers });
    this.gapSeconds = new Gauge({ name: 'vigil_camera_gap_seconds', help: 'Total length of the camera\'s recording gaps, by refill state, in seconds.', labelNames: ['camera', 'fill_state'], registers });
    this.motionActive = new Gauge({ name: 'vigil_camera_motion_active', help: 'Whether the camera\'s picture shows motion now (1) or not (0); only cameras with motion detection enabled.', labelNames: ['camera'], registers });
    this.motionIntervals = new Counter({ name: 'vigil_camera_motion_intervals_total', help: 'Motion intervals written for the camera since this Vigil started.', labelNames: ['camera'], registers });
    this.unsubscribe = d.indexed((camera, sizeBytes) => this.bytesWritten.inc({ camera }, sizeBytes));
    this.unsubscribeMotion = d.motion?.onChange((c) => {
      if (c.interval) this.motionIntervals.inc({ camera: c.cameraId });
    }) ?? (() => undefined);
  }

  /** Stops counting bytes written. */
  close(): void {
    this.unsubscribe();
    this.unsubscribeMotion();
  }

  /** Reads the catalog once and replaces every series it feeds (cameras deleted since the last scrape vanish). */
  async refresh(): Promise<void> {
    const [cameras, statuses, gaps] = await Promise.all([listCameras(this.d.db), listStatuses(this.d.db), gapTotalsByCamera(this.d.db)]);
    const nowMs = this.d.clock.nowMs();
    const statusOf = new Map(statuses.map((s) => [s.cameraId, s]));
    const live = new Set(cameras.map((c) => c.id));
    for (const m of [this.state, this.segments, this.bitrate, this.reconnects, this.lastSegmentAge, this.gaps, this.gapSeconds, this.motionActive]) m.reset();
    for (const cam of cameras) {
      const camera = cam.id;
      const s = statusOf.get(camera);
      // As GET /cameras/:id/status: no status row yet means the recorder has not reported.
      const current: CameraState = s?.state ?? (cam.enabled ? 'connecting' : 'disabled');
      for (const state of CAMERA_STATES) this.state.set({ camera, state }, state === current ? 1 : 0);
      this.segments.inc({ camera }, s?.segmentsWritten ?? 0);
      this.reconnects.inc({ camera }, s?.reconnectCount ?? 0);
      this.bytesWritten.inc({ camera }, 0);
      const bitrate = s?.bitrateBps ?? this.d.liveBitrateBps(camera);
      if (bitrate !== null) this.bitrate.set({ camera }, bitrate);
      if (s?.lastSegmentAtMs != null) this.lastSegmentAge.set({ camera }, Math.max(0, (nowMs - s.lastSegmentAtMs) / 1000));
      if (cam.motion.enabled && this.d.motion) {
        this.motionActive.set({ camera }, this.d.motion.status(camera).state === 'motion' ? 1 : 0);
        this.motionIntervals.inc({ camera }, 0);
      }
      for (const fill_state of FILL_STATES) {
        this.gaps.set({ camera, fill_state }, 0);
        this.gapSeconds.set({ camera, fill_state }, 0);
      }
    }
    for (const g of gaps) {
      if (!live.has(g.cameraId)) continue;
      this.gaps.set({ camera: g.cameraId, fill_state: g.fillState }, g.gaps);
      this.gapSeconds.set({ camera: g.cameraId, fill_state: g.fillState }, g.seconds);
    }
  }
}
