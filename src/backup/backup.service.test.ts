import { createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import { backupInWorker, inspectCatalog } from '../db/backup.js';
import { openDatabase, type OpenedDb } from '../db/connection.js';
import { listEvents } from '../db/event.repo.js';
import { indexSegment } from '../db/segment.repo.js';
import { EventLog } from '../events/event-log.js';
import { systemClock } from '../shared/clock.js';
import { createLogger } from '../shared/logger.js';
import { removeDir, tempDir, waitFor } from '../../test/support/harness.js';
import { BackupService } from './backup.service.js';
import { BACKUP_NAME, type BackupManifest } from './backup-writer.js';

let dir: string;
let opened: OpenedDb;
let events: EventLog;
const log = createLogger('silent');

beforeEach(async () => {
  dir = await tempDir('vigil-backup-');
  opened = await openDatabase(join(dir, 'vigil.db'));
  events = new EventLog(opened.db, systemClock, log);
  await upsertDeclaredCamera(opened.db, { id: 'c1', name: 'c1', mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 60, retentionHours: null, storageQuotaBytes: null, enabled: false }, 'config', Date.now());
  await writeFile(join(dir, 'vigil.yml'), 'demo: false\n');
  await writeFile(join(dir, 'key.pem'), 'not a real key\n', { mode: 0o600 });
});

afterEach(async () => {
  await opened.close();
  await removeDir(dir);
});

function service(backupDir: string, everyMs: number, keep: number): BackupService {
  return new BackupService({
    clock: systemClock,
    events,
    log,
    sources: { dataDir: dir, configPath: join(dir, 'vigil.yml'), signingKeyPath: join(dir, 'key.pem'), copyCatalog: (dest) => backupInWorker(join(dir, 'vigil.db'), dest) },
    dir: backupDir,
    everyMs,
    keep,
  });
}

const t0 = Date.UTC(2026, 10, 20, 8, 0, 0);
async function insertSegment(i: number): Promise<void> {
  const path = `recordings/c1/seg-${i}.mp4`;
  await indexSegment(opened.db, { cameraId: 'c1', path, startMs: t0 + i * 1000, endMs: t0 + (i + 1) * 1000, sizeBytes: 10, codec: null, width: null, height: null, source: 'live', fps: null }, Date.now());
}

describe('scheduled backups', () => {
  it('back up on their interval while rows are written, and rotation keeps only the newest `keep`', async () => {
    const backupDir = join(dir, 'backups');
    const svc = service(backupDir, 150, 2);
    svc.start();
    let i = 0;
    try {
      // A writer keeps indexing rows while the backups copy the catalog from their own connection.
      await waitFor('five backups', async () => {
        await insertSegment(i++);
        const done = (await listEvents(opened.db, { limit: 100 })).filter((e) => e.type === 'backup_completed');
        return done.length >= 5 ? done : undefined;
      }, 30_000, 20);
    } finally {
      await svc.stop();
    }
    const completed = (await listEvents(opened.db, { limit: 100 })).filter((e) => e.type === 'backup_completed');
    const names = (await readdir(backupDir)).sort();
    expect(names).toHaveLength(2);
    expect(names.every((n) => BACKUP_NAME.test(n))).toBe(true);
    // The two kept are the two newest written.
    const written = completed.map((e) => (e.payload as { dir: string }).dir.split('/').at(-1)!).sort();
    expect(names).toEqual(written.slice(-2));
    const removed = completed.flatMap((e) => (e.payload as { removed: string[] }).removed);
    expect(new Set(removed)).toEqual(new Set(written.slice(0, -2)));

    for (const n of names) {
      const manifest = JSON.parse(await readFile(join(backupDir, n, 'manifest.json'), 'utf8')) as BackupManifest;
      expect(Object.keys(manifest.files).sort()).toEqual(['config.yml', 'signing-key.pem', 'vigil.db']);
      for (const [f, meta] of Object.entries(manifest.files)) {
        expect(createHash('sha256').update(await readFile(join(backupDir, n, f))).digest('hex')).toBe(meta.sha256);
      }
      expect((await stat(join(backupDir, n, 'signing-key.pem'))).mode & 0o777).toBe(0o600);
      const facts = inspectCatalog(join(backupDir, n, 'vigil.db'));
      expect(facts.integrity).toBe('ok');
      expect(facts.migration).toBe(manifest.schema_migration);
      expect(facts.rowCounts['segments']).toBe(manifest.row_counts['segments']);
      expect(manifest.row_counts['segments']).toBeGreaterThan(0);
    }
  });

  it('a backup that cannot be written is a backup_failed warning, leaves no folder that looks whole, and the next one still runs', async () => {
    const backupDir = join(dir, 'not-a-dir');
    await writeFile(backupDir, 'a file where the folder should be');
    const svc = service(backupDir, 60_000, 3);
    expect(await svc.backupOnce()).toBeUndefined();
    const failed = (await listEvents(opened.db, { limit: 10 })).find((e) => e.type === 'backup_failed');
    expect(failed?.severity).toBe('warning');
    expect((failed?.payload as { error: string }).error).toMatch(/EEXIST|ENOTDIR/);

    const good = service(join(dir, 'ok'), 60_000, 3);
    const r = await good.backupOnce();
    expect(r && BACKUP_NAME.test(r.dir.split('/').at(-1)!)).toBe(true);
    expect((await readdir(join(dir, 'ok'))).filter((n) => !BACKUP_NAME.test(n))).toEqual([]);
  });
});
