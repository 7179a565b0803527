import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { upsertDeclaredCamera } from '../../src/db/camera.repo.js';
import { openDatabase } from '../../src/db/connection.js';
import { addReadLocks } from '../../src/db/read-lock.repo.js';
import { deleteToTombstones } from '../../src/db/retention.repo.js';
import { indexSegment } from '../../src/db/segment.repo.js';
import { SigningKey } from '../../src/evidence/signing-key.js';
import { systemClock } from '../../src/shared/clock.js';
import { edgeSegmentFileName } from '../../src/storage/segment-names.js';
import { indexFiles, makeSegmentFiles } from '../support/evidence-footage.js';
import { readCatalog } from '../support/footage.js';
import { removeDir, tempDir } from '../support/harness.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function vigil(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function makeSegment(path: string): Promise<void> {
  await new Promise<void>((res, rej) =>
    execFile('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-t', '3', '-c:v', 'libx264', '-g', '10', '-pix_fmt', 'yuv420p',
      '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', path], (e) => (e ? rej(e) : res())),
  );
}

describe('vigil check', () => {
  it('finds every kind of inconsistency, exits 1, and --repair fixes what is safe without touching evidence', async () => {
    const dataDir = await tempDir();
    const dir = join(dataDir, 'recordings', 'c1');
    await mkdir(dir, { recursive: true });
    const { db, close } = await openDatabase(join(dataDir, 'vigil.db'));
    await upsertDeclaredCamera(db, { id: 'c1', name: 'c1', mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 60, retentionHours: null, storageQuotaBytes: null, enabled: false }, 'config', Date.now());
    const t0 = Date.UTC(2026, 10, 20, 8, 0, 0);
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) {
      const path = `recordings/c1/2026112008${String(i).padStart(2, '0')}00Z-a.mp4`.replace('2026112008', '20261120T08');
      await writeFile(join(dataDir, path), 'x'.repeat(10));
      const r = await indexSegment(db, { cameraId: 'c1', path, startMs: t0 + i * 60_000, endMs: t0 + (i + 1) * 60_000, sizeBytes: 10, codec: null, width: null, height: null, source: 'live', fps: null }, Date.now());
      ids.push(r.segment!.id);
    }
    const row = (id: number) => readCatalog(dataDir).segments.find((s) => s.id === id)!;
    await close();
    const { db: db2, close: close2 } = await openDatabase(join(dataDir, 'vigil.db'));
    await db2.updateTable('segments').set({ evidence_locked: 1 }).where('id', '=', ids[1]!).execute();
    await addReadLocks(db2, [ids[2]!]); // a reader that died with a crash
    await deleteToTombstones(db2, [ids[3]!], 'age', Date.now()); // a delete interrupted before unlink
    await close2();
    await rm(join(dataDir, row(ids[0]!).path)); // a row whose file is gone
    await rm(join(dataDir, row(ids[1]!).path)); // the same, but evidence
    await makeSegment(join(dir, '20261120T090000Z-b.mp4')); // a file a crash left without a row

    const first = await vigil(['check', '--data', dataDir]);
    expect(first.code).toBe(1);
    for (const kind of ['missing_file: 2', 'stale_read_lock: 1', 'unresolved_tombstone: 1', 'unindexed_file: 1']) expect(first.stdout).toContain(kind);

    const repaired = await vigil(['check', '--repair', '--data', dataDir]);
    expect(repaired.stdout).toContain('repaired:');
    // Only the evidence row without its file remains a problem: repair never deletes evidence.
    const after = repaired.stdout.split('after repair:')[1] ?? '';
    expect(after).toContain('missing_file: 1');
    expect(after).not.toMatch(/stale_read_lock|unresolved_tombstone|unindexed_file/);
    expect(repaired.code).toBe(1);
    const cat = readCatalog(dataDir);
    expect(cat.segments.find((s) => s.id === ids[1])).toBeDefined();
    expect(cat.segments.find((s) => s.id === ids[0])).toBeUndefined();
    expect(cat.segments.every((s) => (s as unknown as { locked: number }).locked === 0)).toBe(true);
    expect(cat.segments.some((s) => s.path.endsWith('-b.mp4') && s.source === 'recovered')).toBe(true);
    expect(existsSync(join(dataDir, 'recordings/c1/20261120T080300Z-a.mp4'))).toBe(false);
    await removeDir(dataDir);
  });

  it('--deep re-hashes the files and verifies the signed chains: exit 0 untouched, 1 naming the segment whose bytes changed', async () => {
    const dataDir = await tempDir();
    const src = await tempDir();
    try {
      const { db, close } = await openDatabase(join(dataDir, 'vigil.db'));
      await upsertDeclaredCamera(db, { id: 'c1', name: 'c1', mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 2, retentionHours: null, storageQuotaBytes: null, enabled: false }, 'config', Date.now());
      const key = await SigningKey.open(join(dataDir, 'keys', 'signing-key.pem'), db, systemClock);
      const segs = await indexFiles(db, dataDir, 'c1', await makeSegmentFiles(src, 3), Date.UTC(2026, 10, 20, 8, 0, 0), key);
      await close();
      const clean = await vigil(['check', '--deep', '--data', dataDir]);
      expect(clean.code, clean.stdout).toBe(0);
      expect(clean.stdout).toContain('deep: re-hashed 3 files');
      expect(clean.stdout).toContain('verified 3 chain links');
      const victim = join(dataDir, segs[1]!.path);
      const bytes = await readFile(victim);
      bytes[bytes.length - 10]! ^= 0x40;
      await writeFile(victim, bytes);
      const plain = await vigil(['check', '--data', dataDir]);
      expect(plain.code, 'same size: the plain check cannot see it').toBe(0);
      const deep = await vigil(['check', '--deep', '--data', dataDir]);
      expect(deep.code).toBe(1);
      expect(deep.stdout).toContain(`hash_mismatch ${segs[1]!.path} (segment ${segs[1]!.id})`);
    } finally {
      await removeDir(dataDir);
      await removeDir(src);
    }
  });

  it('names a row placed where its file\'s footage is not (placement_mismatch), exits 1, and --repair leaves it to the operator', async () => {
    const dataDir = await tempDir();
    const src = await tempDir();
    try {
      const { db, close } = await openDatabase(join(dataDir, 'vigil.db'));
      await upsertDeclaredCamera(db, { id: 'c1', name: 'c1', mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 2, retentionHours: null, storageQuotaBytes: null, enabled: false }, 'config', Date.now());
      const [file] = await makeSegmentFiles(src, 1);
      const t = Date.UTC(2026, 10, 20, 8, 0, 0);
      // A refill pulled from 08:00:00 whose row starts at 08:00:00.700 but reads the file from its first frame.
      const path = `recordings/c1/${edgeSegmentFileName(t, 4, t + 3600_000)}`;
      await mkdir(join(dataDir, 'recordings', 'c1'), { recursive: true });
      await copyFile(file!, join(dataDir, path));
      const sizeBytes = (await stat(join(dataDir, path))).size;
      const r = await indexSegment(db, { cameraId: 'c1', path, startMs: t + 700, endMs: t + 2000, sizeBytes, codec: 'avc1', width: 160, height: 120, source: 'edge', fps: 15 }, Date.now());
      await close();
      const first = await vigil(['check', '--data', dataDir]);
      expect(first.code, first.stdout).toBe(1);
      expect(first.stdout).toContain('placement_mismatch: 1');
      expect(first.stdout).toContain(
        `placement_mismatch ${path} (segment ${r.segment!.id}): c1 2026-11-20T08:00:00.700Z – 2026-11-20T08:00:02.000Z: the file's name puts its first frame at 2026-11-20T08:00:00.000Z, the row at 2026-11-20T08:00:00.700Z`,
      );
      const repaired = await vigil(['check', '--repair', '--data', dataDir]);
      expect(repaired.code).toBe(1);
      expect(repaired.stdout).not.toContain('repaired:');
      expect(readCatalog(dataDir).segments[0]).toMatchObject({ start_ms: t + 700, media_offset_ms: 0 });
    } finally {
      await removeDir(dataDir);
      await removeDir(src);
    }
  });

  it('rejects bad usage with exit 2 and a message', async () => {
    const both = await vigil(['retention', '--dry-run', '--run', '--data', '/tmp/none-such']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('exactly one of --dry-run or --run');
    const unknownFlag = await vigil(['check', '--bogus']);
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toContain("unknown option '--bogus'");
    const badConfig = await vigil(['check', '--config', '/nonexistent.yml']);
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toContain('config file not found');
  });
});
