import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { buildConfig } from '../../src/config/config.js';
import { inspectCatalog } from '../../src/db/backup.js';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import type { BackupManifest } from '../../src/backup/backup-writer.js';
import { filesUnder, memoryLogger, removeDir, startVigil, tempDir, waitFor, type TestVigil } from '../support/harness.js';
import { readCatalog } from '../support/footage.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function vigil(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');
const segmentFiles = async (dataDir: string) => (await filesUnder(join(dataDir, 'recordings'))).filter((f) => f.endsWith('.mp4')).sort();

describe('catalog backup while recording, restore, check', () => {
  let server: RtspServer;
  let v: TestVigil;
  let backupsDir: string;
  let backupDir: string;
  let backupOut: { code: number; stdout: string; stderr: string };
  let refused: { code: number; stdout: string; stderr: string };
  let rowsAtBackup: number;
  let pathsBeforeRestore: string[];
  let deletedAfterBackup: string;
  let filesBeforeRestore: string[];
  let restored: { code: number; stdout: string; stderr: string };

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    backupsDir = await tempDir('vigil-backups-');
    v = await startVigil({ cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }] });
    await waitFor('three segments', () => (readCatalog(v.dataDir).segments.length >= 3 ? true : undefined), 60_000, 250);
    // A separate process, beside the recording Vigil, as an operator would run it.
    backupOut = await vigil(['backup', '--to', backupsDir, '--data', v.dataDir]);
    const names = await readdir(backupsDir);
    backupDir = join(backupsDir, names.find((n) => n.startsWith('vigil-')) ?? 'none');
    rowsAtBackup = existsSync(join(backupDir, 'vigil.db')) ? (inspectCatalog(join(backupDir, 'vigil.db')).rowCounts['segments'] ?? 0) : 0;
    // Keep recording: these segments exist only in the live catalog, not in the backup.
    await waitFor('four more segments', () => (readCatalog(v.dataDir).segments.length >= rowsAtBackup + 4 ? true : undefined), 60_000, 250);
    refused = await vigil(['restore', '--from', backupDir, '--data', v.dataDir]);
    await v.app.stop();
    pathsBeforeRestore = readCatalog(v.dataDir).segments.map((s) => s.path).sort();
    // As if retention had deleted the oldest segment after the backup: the backup still has its row.
    deletedAfterBackup = pathsBeforeRestore[0]!;
    await rm(join(v.dataDir, deletedAfterBackup));
    filesBeforeRestore = await segmentFiles(v.dataDir);
    restored = await vigil(['restore', '--from', backupDir, '--data', v.dataDir]);
  }, 240_000);

  afterAll(async () => {
    await server?.stop();
    if (v) await removeDir(v.dataDir);
    if (backupsDir) await removeDir(backupsDir);
  });

  it('vigil backup runs beside the recording Vigil and writes a whole backup: integrity ok, every hash as its manifest says, the key 0600', async () => {
    expect(backupOut.stderr).toBe('');
    expect(backupOut.code).toBe(0);
    expect(backupOut.stdout).toContain(`backup written to ${backupDir}`);
    expect(await readdir(backupsDir)).toEqual([backupDir.split('/').at(-1)]);
    const manifest = JSON.parse(await readFile(join(backupDir, 'manifest.json'), 'utf8')) as BackupManifest;
    expect(Object.keys(manifest.files).sort()).toEqual(['signing-key.pem', 'vigil.db']);
    for (const [name, f] of Object.entries(manifest.files)) expect(await sha256(join(backupDir, name))).toBe(f.sha256);
    const facts = inspectCatalog(join(backupDir, 'vigil.db'));
    expect(facts.integrity).toBe('ok');
    expect(facts.migration).toBe(manifest.schema_migration);
    expect(manifest.row_counts['segments']).toBe(rowsAtBackup);
    expect(rowsAtBackup).toBeGreaterThanOrEqual(3);
    expect((await stat(join(backupDir, 'signing-key.pem'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(backupDir, 'signing-key.pem'), 'utf8')).toBe(await readFile(join(v.dataDir, 'keys', 'signing-key.pem'), 'utf8'));
  });

  it('vigil restore refuses a data dir a running Vigil uses, and changes nothing there', () => {
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/a running Vigil \(pid \d+\) is using/);
    expect(pathsBeforeRestore.length).toBeGreaterThanOrEqual(rowsAtBackup + 4);
  });

  it('restores onto the stopped data dir: the old catalog kept aside, no footage file lost', async () => {
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    expect(restored.stdout).toContain('previous catalog kept as');
    const aside = (await readdir(v.dataDir)).filter((n) => n.startsWith('vigil.db.before-restore-'));
    expect(aside.length).toBeGreaterThanOrEqual(1);
    expect(await segmentFiles(v.dataDir)).toEqual(filesBeforeRestore);
  });

  it('segments recorded after the backup are indexed again from their files, a row whose file is gone is dropped, every file has its row', () => {
    const after = readCatalog(v.dataDir).segments;
    const reindexed = pathsBeforeRestore.length - rowsAtBackup;
    expect(restored.stdout).toContain(`files with no row in the backup (recorded after it): ${reindexed}`);
    expect(restored.stdout).toContain('rows whose file is gone (deleted after the backup): 1');
    expect(after.map((s) => s.path).sort()).toEqual(pathsBeforeRestore.filter((p) => p !== deletedAfterBackup));
    expect(after.filter((s) => s.source === 'recovered')).toHaveLength(reindexed);
    expect(restored.stdout).toMatch(/now: \d+ rows, \d+ files, no problems/);
  });

  it('vigil check and vigil check --deep are clean after the restore (hashes and signed chains included)', async () => {
    const check = await vigil(['check', '--data', v.dataDir]);
    expect(check.stdout).toContain('no problems');
    expect(check.code).toBe(0);
    const deep = await vigil(['check', '--deep', '--data', v.dataDir]);
    expect(deep.stdout).toContain('no problems');
    // Every segment link, the re-indexed ones included, and the deletion link of the row dropped.
    expect(deep.stdout).toMatch(new RegExp(`verified ${pathsBeforeRestore.length + 1} chain links`));
    expect(deep.code).toBe(0);
  });

  it('a damaged backup is refused before anything in the data dir changes', async () => {
    const { appendFile } = await import('node:fs/promises');
    await appendFile(join(backupDir, 'vigil.db'), 'x');
    const before = await readdir(v.dataDir);
    const r = await vigil(['restore', '--from', backupDir, '--data', v.dataDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/vigil\.db does not match the manifest/);
    expect(await readdir(v.dataDir)).toEqual(before);
  });
});

describe('scheduled backups inside a running Vigil', () => {
  it('vigil serve with backup: writes backups on its interval, rotates to keep, logs backup_completed, and stops cleanly', async () => {
    const dataDir = await tempDir();
    const backupsDir = join(dataDir, 'backups');
    const config = buildConfig(
      { demo: false, listen: '127.0.0.1:0', retention: { min_free_bytes: 0 }, backup: { dir: backupsDir, every_hours: 1, keep: 2 } },
      { source: null, cwd: dataDir, env: {}, overrides: { dataDir } },
    );
    // The interval is hours in the config; the test drives it in milliseconds.
    const app = await createApp(config, { log: memoryLogger().log, showSecret: () => undefined, backupEveryMs: 300 });
    await app.start();
    try {
      await waitFor('four backups', () => (readCatalog(dataDir).events.filter((e) => e.type === 'backup_completed').length >= 4 ? true : undefined), 60_000, 100);
    } finally {
      await app.stop();
    }
    const completed = readCatalog(dataDir).events.filter((e) => e.type === 'backup_completed').map((e) => JSON.parse(e.payload) as { dir: string; removed: string[] });
    const names = (await readdir(backupsDir)).sort();
    expect(names).toHaveLength(2);
    expect(names).toEqual(completed.map((c) => c.dir.split('/').at(-1)!).sort().slice(-2));
    for (const n of names) {
      const manifest = JSON.parse(await readFile(join(backupsDir, n, 'manifest.json'), 'utf8')) as BackupManifest;
      expect(Object.keys(manifest.files).sort()).toEqual(['signing-key.pem', 'vigil.db']);
      for (const [name, f] of Object.entries(manifest.files)) expect(await sha256(join(backupsDir, n, name))).toBe(f.sha256);
      expect(inspectCatalog(join(backupsDir, n, 'vigil.db')).integrity).toBe('ok');
    }
    await removeDir(dataDir);
  }, 90_000);
});
