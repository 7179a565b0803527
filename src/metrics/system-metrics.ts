import { Gauge, type Registry } from 'prom-client';
import type { Db } from '../db/connection.js';
import { exportJobsByState } from '../db/metrics.repo.js';
import type { DeleteReason, ExportState } from '../db/schema.js';
import type { DiskProbe } from '../storage/disk.js';
import type { EventLoopLag } from './event-loop-lag.js';
import type { FfmpegProcesses } from './ffmpeg-processes.js';

export const DELETE_REASONS = ['age', 'camera_quota', 'global_cap', 'disk_floor', 'orphan', 'repair'] as const satisfies readonly DeleteReason[];
const EXPORT_STATES = ['queued', 'running', 'done', 'failed', 'deleted'] as const satisfies readonly ExportState[];

/** A job limiter's figures (`MediaJobs`: clips and snapshots share one, evidence bundles have their own). */
export interface JobPool {
  readonly active: number;
  readonly waiting: number;
  readonly maxJobs: number;
}

export interface SystemMetricsDeps {
  db: Db;
  disk: DiskProbe;
  /** `<data>/recordings` (where footage goes) and the data dir (the catalog). */
  recordingsDir: string;
  dataDir: string;
  /** The free space retention keeps on the recordings disk, for a disk of that size. */
  floorBytes(totalBytes: number): number;
  recordingsFull(): boolean;
  retentionBlocked(): { reason: DeleteReason } | null;
  jobs: { media: JobPool; export: JobPool };
  processes: FfmpegProcesses;
  lag: EventLoopLag;
}

/**
 * Gauges of the whole Vigil, read when Prometheus scrapes: disks, retention's floor and block, job
 * queues, ffmpeg processes and event-loop lag. Every label value comes from a fixed list.
 */
export class SystemMetrics {
  private readonly diskFree: Gauge<'disk'>;
  private readonly diskTotal: Gauge<'disk'>;
  private readonly floor: Gauge;
  private readonly full: Gauge;
  private readonly blocked: Gauge<'reason'>;
  private readonly jobsRunning: Gauge<'pool'>;
  private readonly jobsWaiting: Gauge<'pool'>;
  private readonly jobsLimit: Gauge<'pool'>;
  private readonly exportJobs: Gauge<'state'>;
  private readonly ffmpeg: Gauge<'kind'>;
  private readonly lagP50: Gauge;
  private readonly lagP99: Gauge;
  private readonly lagMax: Gauge;

  constructor(private readonly d: SystemMetricsDeps, registry: Registry) {
    const registers = [registry];
    this.diskFree = new Gauge({ name: 'vigil_disk_free_bytes', help: 'Free bytes (for an unprivileged writer) on the recordings disk and on the catalog\'s disk.', labelNames: ['disk'], registers });
    this.diskTotal = new Gauge({ name: 'vigil_disk_total_bytes', help: 'Size in bytes of the recordings disk and of the catalog\'s disk.', labelNames: ['disk'], registers });
    this.floor = new Gauge({ name: 'vigil_retention_min_free_bytes', help: 'Free space retention keeps on the recordings disk (retention.min_free_bytes), in bytes.', registers });
    this.full = new Gauge({ name: 'vigil_recordings_disk_full', help: '1 while the recordings disk is full and recording waits for room, else 0.', registers });
    this.blocked = new Gauge({ name: 'vigil_retention_blocked', help: '1 for the limit the last retention sweep could not meet (only held or read-locked footage left), else 0.', labelNames: ['reason'], registers });
    this.jobsRunning = new Gauge({ name: 'vigil_media_jobs_running', help: 'Media jobs running: clips and snapshots (pool media), evidence bundle clips (pool export).', labelNames: ['pool'], registers });
    this.jobsWaiting = new Gauge({ name: 'vigil_media_jobs_waiting', help: 'Media jobs waiting for a slot (the job queue\'s depth).', labelNames: ['pool'], registers });
    this.jobsLimit = new Gauge({ name: 'vigil_media_jobs_limit', help: 'Media jobs that may run at once (media.max_jobs, evidence.max_export_jobs).', labelNames: ['pool'], registers });
    this.exportJobs = new Gauge({ name: 'vigil_export_jobs', help: 'Evidence export jobs by state (queued: waiting to be built).', labelNames: ['state'], registers });
    this.ffmpeg = new Gauge({ name: 'vigil_ffmpeg_processes', help: 'ffmpeg processes Vigil has running, by what they do.', labelNames: ['kind'], registers });
    this.lagP50 = new Gauge({ name: 'vigil_event_loop_lag_p50_seconds', help: 'Median event-loop lag since the previous scrape, in seconds.', registers });
    this.lagP99 = new Gauge({ name: 'vigil_event_loop_lag_p99_seconds', help: '99th percentile of the event-loop lag since the previous scrape, in seconds.', registers });
    this.lagMax = new Gauge({ name: 'vigil_event_loop_lag_max_seconds', help: 'Longest event-loop lag since the previous scrape, in seconds.', registers });
  }

  async refresh(): Promise<void> {
    const [recordings, catalog, exportJobs] = await Promise.all([this.d.disk(this.d.recordingsDir), this.d.disk(this.d.dataDir), exportJobsByState(this.d.db)]);
    for (const [disk, space] of [['recordings', recordings], ['catalog', catalog]] as const) {
      this.diskFree.set({ disk }, space.freeBytes);
      this.diskTotal.set({ disk }, space.totalBytes);
    }
    this.floor.set(this.d.floorBytes(recordings.totalBytes));
    this.full.set(this.d.recordingsFull() ? 1 : 0);
    const blocked = this.d.retentionBlocked()?.reason;
    for (const reason of DELETE_REASONS) this.blocked.set({ reason }, reason === blocked ? 1 : 0);
    for (const [pool, jobs] of Object.entries(this.d.jobs)) {
      this.jobsRunning.set({ pool }, jobs.active);
      this.jobsWaiting.set({ pool }, jobs.waiting);
      this.jobsLimit.set({ pool }, jobs.maxJobs);
    }
    for (const state of EXPORT_STATES) this.exportJobs.set({ state }, exportJobs.get(state) ?? 0);
    for (const [kind, n] of this.d.processes.counts()) this.ffmpeg.set({ kind }, n);
    const lag = this.d.lag.take();
    if (lag) {
      this.lagP50.set(lag.p50Seconds);
      this.lagP99.set(lag.p99Seconds);
      this.lagMax.set(lag.maxSeconds);
    }
  }
}
