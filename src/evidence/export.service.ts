import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { cameraIdTaken } from '../db/camera.repo.js';
import type { Db } from '../db/connection.js';
import {
  getExport,
  insertExport,
  listExports,
  markExportDeleted,
  markExportDone,
  markExportFailed,
  markExportRunning,
  setExportProgress,
  unfinishedExports,
  type ExportJob,
  type NewExport,
} from '../db/export.repo.js';
import type { EventLog } from '../events/event-log.js';
import type { ClipService } from '../export/clip.service.js';
import { withSegmentsReadLocked } from '../export/read-lock.js';
import type { Clock } from '../shared/clock.js';
import { conflict, errorMessage, invalidArgument, notFound } from '../shared/errors.js';
import { toIso } from '../shared/time.js';
import type { FootageStore } from '../storage/footage-store.js';
import { fsyncPath } from '../storage/fsync.js';
import { segmentsOf, writeBundle } from './bundle.js';
import { incidentReportHtml } from './incident-report.js';
import type { SigningKey } from './signing-key.js';

export interface ExportServiceDeps {
  db: Db;
  store: FootageStore;
  clock: Clock;
  events: EventLog;
  log: Logger;
  /** A clip service for exports (its own job slots and range limit). */
  clips: ClipService;
  key: SigningKey;
  dir: string;
  maxJobs: number;
  maxSeconds: number;
  vigilVersion: string;
}

/** What a caller asks for; the service names the job. */
export type ExportRequest = Omit<NewExport, 'id'>;

/** A job interrupted by stops this many times is failed instead of started again. */
const MAX_ATTEMPTS = 3;
/** Progress is written at most this often. */
const PROGRESS_EVERY_MS = 1000;

/**
 * Evidence exports as jobs (invariant 11): a request is stored as `queued` and answered at once; at
 * most `maxJobs` bundles are built at a time, each into `<id>.zip.partial` with its segments
 * read-locked throughout, then fsynced and renamed to `<id>.zip` before the job says `done`, so a
 * done job always has its whole bundle. A stop mid-build leaves the job `running`: start-up removes
 * the partial file and builds it again (up to 3 attempts, then `failed` with the reason).
 */
export class ExportService {
  private running = 0;
  private readonly pending: string[] = [];
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly d: ExportServiceDeps) {}

  /** Resumes jobs a stop interrupted and clears partial files. */
  async start(): Promise<void> {
    await mkdir(this.d.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.d.dir)) if (name.endsWith('.partial')) await rm(join(this.d.dir, name), { force: true });
    for (const job of await unfinishedExports(this.d.db)) {
      if (job.state === 'running' && job.attempts >= MAX_ATTEMPTS) {
        await this.fail(job, `interrupted ${job.attempts} times by a stop of Vigil; not tried again`);
        continue;
      }
      if (job.state === 'running') this.d.log.info({ exportId: job.id, attempt: job.attempts + 1 }, 'export interrupted by a stop; building it again');
      this.enqueue(job.id);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  async create(r: ExportRequest): Promise<ExportJob> {
    if (r.cameraIds.length === 0) throw invalidArgument('name at least one camera', 'camera_ids');
    if (new Set(r.cameraIds).size !== r.cameraIds.length) throw invalidArgument('a camera is named twice', 'camera_ids');
    if (r.fromMs >= r.toMs) throw invalidArgument('from must be before to', 'from');
    if (r.toMs - r.fromMs > this.d.maxSeconds * 1000) {
      throw invalidArgument(`an export covers at most ${this.d.maxSeconds} s (evidence.export_max_seconds); narrow from/to`, 'to');
    }
    if (r.reason.trim() === '') throw invalidArgument('say why this footage is exported', 'reason');
    for (const [i, id] of r.cameraIds.entries()) {
      const taken = await cameraIdTaken(this.d.db, id);
      if (!taken.live && !taken.deleted) throw notFound(`camera "${id}" not found`, `camera_ids[${i}]`);
    }
    const job = await insertExport(this.d.db, { ...r, id: `exp_${randomBytes(12).toString('base64url')}` }, this.d.clock.nowMs());
    await this.d.events.emit({
      type: 'export_requested',
      severity: 'info',
      cameraId: null,
      requestId: r.requestId,
      payload: { export_id: job.id, cameras: r.cameraIds, from: toIso(r.fromMs), to: toIso(r.toMs), incident_id: r.incidentId, requested_by: r.requestedBy },
    });
    this.enqueue(job.id);
    return job;
  }

  async get(id: string): Promise<ExportJob> {
    const job = await getExport(this.d.db, id);
    if (!job) throw notFound(`export "${id}" not found`, 'id');
    return job;
  }

  async list(q: { limit: number; cursor?: string | undefined; incidentId?: string | undefined }, visible: (job: ExportJob) => boolean): Promise<{ exports: ExportJob[]; nextCursor: string | null }> {
    const after = q.cursor ? decodeExportCursor(q.cursor) : undefined;
    const rows = await listExports(this.d.db, { limit: q.limit, incidentId: q.incidentId, after });
    const last = rows.at(-1);
    const nextCursor = rows.length === q.limit && last ? Buffer.from(`${last.createdAtMs}:${last.id}`).toString('base64url') : null;
    return { exports: rows.filter(visible), nextCursor };
  }

  /** The finished bundle's path; 409 while it is being built, or once it failed or was deleted. */
  async bundlePath(id: string): Promise<{ path: string; job: ExportJob }> {
    const job = await this.get(id);
    if (job.state === 'queued' || job.state === 'running') throw conflict(`export ${id} is ${job.state} (${Math.round(job.progress)} %); try again when it is done`, 'id');
    if (job.state !== 'done') throw conflict(`export ${id} is ${job.state}${job.error ? `: ${job.error}` : ''}; it has no bundle`, 'id');
    return { path: this.finalPath(id), job };
  }

  /** Removes the bundle file (the job's record stays, marked deleted). */
  async delete(id: string, requestId: string | null, actor: string): Promise<ExportJob> {
    const job = await this.get(id);
    if (job.state === 'queued' || job.state === 'running') throw conflict(`export ${id} is still ${job.state}`, 'id');
    if (job.state === 'deleted') return job;
    await rm(this.finalPath(id), { force: true });
    await fsyncPath(this.d.dir);
    await markExportDeleted(this.d.db, id, this.d.clock.nowMs());
    await this.d.events.emit({ type: 'export_deleted', severity: 'info', cameraId: null, requestId, payload: { export_id: id, deleted_by: actor } });
    return this.get(id);
  }

  private finalPath(id: string): string {
    return join(this.d.dir, `${id}.zip`);
  }

  private enqueue(id: string): void {
    this.pending.push(id);
    this.pump();
  }

  private pump(): void {
    while (this.running < this.d.maxJobs && this.pending.length > 0 && !this.abort.signal.aborted) {
      const id = this.pending.shift()!;
      this.running++;
      const p = this.build(id)
        .catch((err: unknown) => this.d.log.error({ err, exportId: id }, 'export job crashed'))
        .finally(() => {
          this.running--;
          this.inFlight.delete(p);
          this.pump();
        });
      this.inFlight.add(p);
    }
  }

  private async build(id: string): Promise<void> {
    const signal = this.abort.signal;
    await markExportRunning(this.d.db, id, this.d.clock.nowMs());
    const job = await this.get(id);
    const partial = `${this.finalPath(id)}.partial`;
    await mkdir(this.d.dir, { recursive: true, mode: 0o700 });
    await rm(partial, { force: true });
    let lastWrite = 0;
    try {
      const segments = await segmentsOf(this.d.db, job);
      const ids = [...segments.values()].flat().map((s) => s.id);
      const result = await withSegmentsReadLocked(this.d, ids, signal, async () => {
        // Read again under the lock: retention may have deleted a row between the listing and the lock.
        const locked = await segmentsOf(this.d.db, job);
        return writeBundle(
          { db: this.d.db, store: this.d.store, clips: this.d.clips, key: this.d.key, vigilVersion: this.d.vigilVersion },
          job,
          locked,
          partial,
          (fraction) => {
            const now = this.d.clock.nowMs();
            if (now - lastWrite < PROGRESS_EVERY_MS) return;
            lastWrite = now;
            void setExportProgress(this.d.db, id, Math.round(fraction * 1000) / 10).catch(() => undefined);
          },
          signal,
        );
      });
      await fsyncPath(partial);
      await rename(partial, this.finalPath(id));
      await fsyncPath(this.d.dir);
      await markExportDone(this.d.db, id, result, this.d.clock.nowMs());
      await this.d.events.emit({
        type: 'export_completed',
        severity: 'info',
        cameraId: null,
        requestId: job.requestId,
        payload: { export_id: id, size_bytes: result.sizeBytes, sha256: result.sha256, manifest_sha256: result.manifestSha256 },
      });
    } catch (err) {
      await rm(partial, { force: true });
      // Stopping: the job stays `running`, and start-up builds it again.
      if (signal.aborted) return;
      await this.fail(job, errorMessage(err));
    }
  }

  private async fail(job: ExportJob, error: string): Promise<void> {
    await markExportFailed(this.d.db, job.id, error, this.d.clock.nowMs());
    await this.d.events.emit({ type: 'export_failed', severity: 'warning', cameraId: null, requestId: job.requestId, payload: { export_id: job.id, error } });
  }

  /** The incident's chain-of-custody report (HTML), as `generatedBy` asked for it now. */
  incidentReport(incidentId: string, generatedBy: string): Promise<string> {
    return incidentReportHtml(this.d.db, {
      incidentId,
      generatedAtMs: this.d.clock.nowMs(),
      generatedBy,
      vigilVersion: this.d.vigilVersion,
      keyFingerprint: this.d.key.fingerprint,
    });
  }

  /** Size on disk of a done bundle (the row says it too; this checks the file is really there). */
  async fileSize(id: string): Promise<number | undefined> {
    return stat(this.finalPath(id)).then((s) => s.size, () => undefined);
  }
}

function decodeExportCursor(cursor: string): { createdAtMs: number; id: string } {
  const m = /^(\d{1,16}):(exp_[A-Za-z0-9_-]{1,64})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw invalidArgument('cursor is not one this API returned', 'cursor');
  return { createdAtMs: Number(m[1]), id: m[2]! };
}
