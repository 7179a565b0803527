import type { Logger } from 'pino';
import type { EventLog } from '../events/event-log.js';
import type { Clock } from '../shared/clock.js';
import { errorMessage } from '../shared/errors.js';
import { sleep } from '../shared/sleep.js';
import { rotateBackups, writeBackup, type BackupResult, type BackupSources } from './backup-writer.js';

export interface BackupServiceDeps {
  clock: Clock;
  events: EventLog;
  log: Logger;
  sources: BackupSources;
  dir: string;
  /** Time between backups (`backup.every_hours`); tests pass milliseconds. */
  everyMs: number;
  keep: number;
}

/**
 * Scheduled catalog backups inside `vigil serve` (docs/operations.md, "Backups"): one every `everyMs`,
 * the first one interval after start-up, then rotation to the newest `keep`. A failure is an event
 * (`backup_failed`, warning) and the next attempt comes at the next interval: a backup never stops
 * recording.
 */
export class BackupService {
  private abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly d: BackupServiceDeps) {}

  start(): void {
    if (this.loop) return;
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal);
  }

  /** Waits for a backup under way to finish (its folder is then whole, or removed). */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    this.loop = undefined;
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (await sleep(this.d.everyMs, signal)) await this.backupOnce();
  }

  /** One backup and rotation now; never throws (the outcome is an event). */
  async backupOnce(): Promise<BackupResult | undefined> {
    const startedMs = this.d.clock.nowMs();
    try {
      const result = await writeBackup(this.d.sources, this.d.dir, startedMs);
      const removed = await rotateBackups(this.d.dir, this.d.keep, this.d.clock.nowMs());
      await this.d.events.emit({
        type: 'backup_completed',
        requestId: null,
        payload: {
          dir: result.dir,
          bytes: result.bytes,
          duration_ms: Math.round(result.copy.durationMs),
          segments: result.manifest.row_counts['segments'] ?? 0,
          removed,
        },
      });
      return result;
    } catch (err) {
      this.d.log.error({ err, dir: this.d.dir }, 'scheduled backup failed');
      await this.d.events.emit({ type: 'backup_failed', severity: 'warning', requestId: null, payload: { dir: this.d.dir, error: errorMessage(err) } });
      return undefined;
    }
  }
}
