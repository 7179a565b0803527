import { execFile } from 'node:child_process';
import { generateKeyPairSync, sign as edSign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import type { Signer } from '../shared/evidence-hash.js';
import { upsertDeclaredCamera } from './camera.repo.js';
import { CATALOG_TABLES } from './catalog-copy.js';
import { listChainLinks } from './chain.repo.js';
import type { Db, OpenedDb } from './connection.js';
import { setEvidenceLocked } from './evidence.repo.js';
import { logEvent } from './event.repo.js';
import { addReadLocks } from './read-lock.repo.js';
import { deleteToTombstones } from './retention.repo.js';
import { indexSegment } from './segment.repo.js';

/**
 * `vigil catalog copy` (SQLite → PostgreSQL) and `vigil migrate` on PostgreSQL, run as the real CLI.
 * The postgres project only (vitest.config.ts): the source is a real SQLite file, opened with the real
 * `openDatabase` (this project's setup file sends other opens to PostgreSQL).
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const T0 = Date.UTC(2024, 2, 9, 7, 0, 0);
const real = await vi.importActual<typeof import('./connection.js')>('./connection.js');

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let dbSeq = 0;
async function freshDatabase(): Promise<string> {
  const admin = inject('pgAdminUrl');
  const name = `copy_${process.pid}_${++dbSeq}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  return admin.replace(/\/[^/]*$/, `/${name}`);
}

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signer: Signer = { sign: (data) => ({ signature: edSign(null, data, privateKey).toString('base64'), fingerprint: publicKey.export({ type: 'spki', format: 'der' }).subarray(-32).toString('hex') }) };

async function allRows(db: Db, table: string, order: string): Promise<unknown[]> {
  return (await sql`SELECT * FROM ${sql.table(table)} ORDER BY ${sql.raw(order)}`.execute(db)).rows;
}

describe('vigil catalog copy (sqlite → postgres)', () => {
  let dir: string;
  let file: string;
  let source: OpenedDb;
  let deletedId: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-copy-'));
    file = join(dir, 'vigil.db');
    source = await real.openDatabase(file);
    const db = source.db;
    await upsertDeclaredCamera(db, { id: 'front', name: 'Front', mainUrl: 'rtsp://cam.local/front', subUrl: null, segmentSeconds: 10, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', T0);
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) {
      // A 20 s hole after the third segment: a gap row and its event.
      const start = T0 + i * 10_000 + (i >= 3 ? 20_000 : 0);
      const r = await indexSegment(
        db,
        { cameraId: 'front', path: `recordings/front/${start}.mp4`, startMs: start, endMs: start + 10_000, sizeBytes: 1000 + i, codec: 'avc1.64001f', width: 640, height: 360, source: 'live', fps: 25, sha256: 'ab'.repeat(32) },
        T0,
        (gap) => ({ tsMs: T0, type: 'recording_gap', severity: 'warning', cameraId: 'front', requestId: null, payload: { gap_start_ms: gap.gapStartMs } }),
        signer,
      );
      if (r.segment) ids.push(r.segment.id);
    }
    // Two readers hold the second segment.
    await addReadLocks(db, [ids[1] as number]);
    await addReadLocks(db, [ids[1] as number]);
    await setEvidenceLocked(db, ids[2] as number, true, 'case-7');
    // The newest segment deleted by policy: its id must never be given again on PostgreSQL.
    deletedId = ids[5] as number;
    expect(await deleteToTombstones(db, [deletedId], 'age', T0 + 100_000, signer)).toHaveLength(1);
    await logEvent(db, { tsMs: T0, type: 'camera_created', severity: 'info', cameraId: 'front', requestId: 'r1', payload: { n: 1 } });
    await source.close();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('copies every table with ids, read-locks and evidence holds, verifies the counts, keeps the id sequence, and refuses a non-empty target', async () => {
    const url = await freshDatabase();
    const r = await cli(['catalog', 'copy', '--from', `sqlite:${file}`, '--to', url]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^segments\s+5$/m);
    expect(r.stdout).toMatch(/every table's count verified/);

    const src = await real.openDatabase(file);
    const dst = await real.openDatabase(url);
    try {
      expect(dst.engine).toBe('postgres');
      for (const t of CATALOG_TABLES) {
        const order = t.name === 'motion_zones' ? 'interval_id, zone' : t.name === 'chain_links' ? 'camera_id, seq' : t.name === 'chain_checkpoints' ? 'camera_id, first_seq' : t.id ? 'id' : '1';
        expect(await allRows(dst.db, t.name, order), t.name).toEqual(await allRows(src.db, t.name, order));
      }
      const segs = (await allRows(dst.db, 'segments', 'id')) as Array<{ id: number; locked: number; evidence_locked: number; incident_id: string | null }>;
      expect(segs.map((s) => [s.locked, s.evidence_locked, s.incident_id])).toEqual([
        [0, 0, null],
        [2, 0, null],
        [0, 1, 'case-7'],
        [0, 0, null],
        [0, 0, null],
      ]);
      // The chain continues on PostgreSQL from where SQLite left it: segment links and the deletion link.
      const links = await listChainLinks(dst.db, 'front', 0, 100);
      expect(links.map((l) => l.kind)).toEqual(['segment', 'segment', 'segment', 'segment', 'segment', 'segment', 'deletion']);
      // The next id is past the deleted one (SQLite's AUTOINCREMENT counter), not max(id) + 1.
      const next = await indexSegment(dst.db, { cameraId: 'front', path: 'recordings/front/next.mp4', startMs: T0 + 200_000, endMs: T0 + 210_000, sizeBytes: 1, codec: null, width: null, height: null, source: 'live', fps: null, sha256: 'cd'.repeat(32) }, T0, undefined, signer);
      expect(next.segment?.id).toBe(deletedId + 1);
      expect((await listChainLinks(dst.db, 'front', 7, 10)).map((l) => [l.seq, l.kind])).toEqual([[8, 'segment']]);
    } finally {
      await src.close();
      await dst.close();
    }

    const again = await cli(['catalog', 'copy', '--from', `sqlite:${file}`, '--to', url]);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/the target catalog is not empty \(cameras has 1 rows\)/);
  });

  it('exit 2 on a source that is not sqlite:<existing file> or a target that is not postgres://', async () => {
    const url = await freshDatabase();
    const noFile = await cli(['catalog', 'copy', '--from', `sqlite:${join(dir, 'missing.db')}`, '--to', url]);
    expect([noFile.code, noFile.stderr]).toEqual([2, expect.stringMatching(/--from: no catalog at .*missing\.db/)]);
    const bare = await cli(['catalog', 'copy', '--from', file, '--to', url]);
    expect([bare.code, bare.stderr]).toEqual([2, expect.stringMatching(/--from must be sqlite:<file>/)]);
    const notPg = await cli(['catalog', 'copy', '--from', `sqlite:${file}`, '--to', `mysql://x/y`]);
    expect([notPg.code, notPg.stderr]).toEqual([2, expect.stringMatching(/--to must be a postgres:\/\//)]);
  });
});

describe('vigil migrate on PostgreSQL', () => {
  it('applies the baseline once, then says the catalog is up to date; exit 1 when the server cannot be reached', async () => {
    const url = await freshDatabase();
    const dir = await mkdtemp(join(tmpdir(), 'vigil-migrate-'));
    try {
      const first = await cli(['migrate', '-d', dir], { VIGIL_CATALOG_URL: url });
      expect([first.code, first.stderr]).toEqual([0, '']);
      expect(first.stdout).toMatch(/^postgres catalog .*: applied 0011-baseline, 0012-cluster, 0013-segments-end-in-index, 0014-segment-rows-in-index, 0015-segment-keyframe-fragments$/m);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const tables = (await c.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely%' ORDER BY 1`)).rows.map((r) => r.t);
      await c.end();
      expect(tables).toEqual(CATALOG_TABLES.map((t) => t.name).sort());
      const second = await cli(['migrate', '-d', dir], { VIGIL_CATALOG_URL: url });
      expect([second.code, second.stdout]).toEqual([0, expect.stringMatching(/: up to date$/m)]);

      const down = await cli(['migrate', '-d', dir], { VIGIL_CATALOG_URL: 'postgres://postgres@127.0.0.1:1/vigil' });
      expect(down.code).toBe(1);
      expect(down.stderr).toMatch(/ECONNREFUSED|cannot be reached/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
