import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/connection.js';
import { getExport } from '../db/export.repo.js';
import type { DeleteReason } from '../db/schema.js';
import type { EventLog } from '../events/event-log.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { CameraMetrics, type CameraMetricsDeps } from './camera-metrics.js';
import { EventLoopLag } from './event-loop-lag.js';
import { DELETE_REASONS, SystemMetrics, type SystemMetricsDeps } from './system-metrics.js';

/** What a media duration measures: a clip download, a snapshot, a playlist, a segment's bytes, an evidence bundle. */
export const MEDIA_KINDS = ['clip', 'snapshot', 'playlist', 'segment', 'bundle'] as const;
export type MediaKind = (typeof MEDIA_KINDS)[number];
const OUTCOMES = ['ok', 'error'] as const;

/** The `route` label of a request no route matched: its URL is the client's, never a label. */
export const UNMATCHED_ROUTE = 'unmatched';
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export interface VigilMetricsDeps extends CameraMetricsDeps, Omit<SystemMetricsDeps, 'lag' | 'db'> {
  db: Db;
  clock: Clock;
  events: EventLog;
  /** The indexer's latency feed (`Indexer.onIndexLatency`). */
  indexLatency(listener: (seconds: number) => void): () => void;
  log: Logger;
  version: string;
}

/**
 * Vigil's Prometheus metrics, on a registry of its own (never prom-client's global one: tests run
 * several Vigils in one process). Gauges of state are read from the catalog and the services when
 * scraped; what happens between scrapes is counted where it happens: index latency (indexer),
 * retention deletions (its events), HTTP requests and media durations (the API's response hook),
 * bundle durations (export events).
 */
export class VigilMetrics {
  readonly registry = new Registry();
  private readonly cameras: CameraMetrics;
  private readonly system: SystemMetrics;
  private readonly lag = new EventLoopLag();
  private readonly http: Counter<'route' | 'method' | 'status'>;
  private readonly media: Histogram<'kind' | 'outcome'>;
  private readonly deletedSegments: Counter<'reason'>;
  private readonly deletedBytes: Counter<'reason'>;
  private readonly unsubscribe: Array<() => void> = [];
  private scraping: Promise<string> | undefined;

  constructor(private readonly d: VigilMetricsDeps) {
    const registers = [this.registry];
    this.cameras = new CameraMetrics(d, this.registry);
    this.system = new SystemMetrics({ ...d, lag: this.lag }, this.registry);
    new Gauge({ name: 'vigil_build_info', help: 'Always 1; the version label names the running Vigil.', labelNames: ['version'], registers }).set({ version: d.version }, 1);
    const indexLatency = new Histogram({
      name: 'vigil_index_latency_seconds',
      help: 'From a recorder reporting a segment closed to its row committed (read, hash, fsync, transaction, retries), in seconds.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.http = new Counter({ name: 'vigil_http_requests_total', help: 'HTTP requests answered, by route template (never the URL), method and status.', labelNames: ['route', 'method', 'status'], registers });
    this.media = new Histogram({
      name: 'vigil_media_duration_seconds',
      help: 'How long clips, snapshots, playlists and segment reads took until their last byte was sent, and evidence bundles to build, in seconds.',
      labelNames: ['kind', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
      registers,
    });
    for (const kind of MEDIA_KINDS) for (const outcome of OUTCOMES) this.media.zero({ kind, outcome });
    this.deletedSegments = new Counter({ name: 'vigil_retention_deleted_segments_total', help: 'Segments retention deleted, by reason.', labelNames: ['reason'], registers });
    this.deletedBytes = new Counter({ name: 'vigil_retention_deleted_bytes_total', help: 'Bytes of footage retention deleted, by reason.', labelNames: ['reason'], registers });
    for (const reason of DELETE_REASONS) {
      this.deletedSegments.inc({ reason }, 0);
      this.deletedBytes.inc({ reason }, 0);
    }
    this.unsubscribe.push(d.indexLatency((seconds) => indexLatency.observe(seconds)));
    this.unsubscribe.push(
      d.events.subscribe((e) => {
        if (e.type === 'retention_deleted') this.countDeletions(e.payload['by_reason']);
        else if (e.type === 'export_completed' || e.type === 'export_failed') void this.timeBundle(e.payload['export_id'], e.type === 'export_completed');
      }),
    );
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Starts sampling the event loop (the only thing measured in the background). */
  start(): void {
    this.lag.start();
  }

  stop(): void {
    this.lag.stop();
    this.cameras.close();
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** The text exposition. Concurrent scrapes share one reading, so none sees a half-refreshed family. */
  scrape(): Promise<string> {
    this.scraping ??= (async () => {
      await Promise.all([this.cameras.refresh(), this.system.refresh()]);
      return this.registry.metrics();
    })().finally(() => {
      this.scraping = undefined;
    });
    return this.scraping;
  }

  /** One answered request. `route` is the matched route's template (`/api/v1/cameras/:id`), undefined when none matched. */
  observeRequest(route: string | undefined, method: string, status: number): void {
    const m = method.toUpperCase();
    this.http.inc({ route: route ?? UNMATCHED_ROUTE, method: METHODS.has(m) ? m : 'OTHER', status: String(status) });
  }

  observeMedia(kind: MediaKind, seconds: number, ok: boolean): void {
    this.media.observe({ kind, outcome: ok ? 'ok' : 'error' }, seconds);
  }

  private countDeletions(byReason: unknown): void {
    if (!byReason || typeof byReason !== 'object') return;
    for (const [reason, t] of Object.entries(byReason as Record<string, { segments?: unknown; bytes?: unknown }>)) {
      if (!(DELETE_REASONS as readonly string[]).includes(reason)) continue;
      const labels = { reason: reason as DeleteReason };
      if (typeof t.segments === 'number' && t.segments > 0) this.deletedSegments.inc(labels, t.segments);
      if (typeof t.bytes === 'number' && t.bytes > 0) this.deletedBytes.inc(labels, t.bytes);
    }
  }

  /** A bundle's build time, from its job's own start and finish (a restart's rebuild counts from its new start). */
  private async timeBundle(exportId: unknown, ok: boolean): Promise<void> {
    if (typeof exportId !== 'string') return;
    try {
      const job = await getExport(this.d.db, exportId);
      if (job?.startedAtMs != null && job.finishedAtMs != null) this.observeMedia('bundle', Math.max(0, job.finishedAtMs - job.startedAtMs) / 1000, ok);
    } catch (err) {
      this.d.log.warn({ err, exportId }, 'bundle duration not measured');
    }
  }
}
