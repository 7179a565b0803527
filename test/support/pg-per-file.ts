import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import { inject, vi } from 'vitest';

/**
 * The `postgres` project's setup file (vitest.config.ts): every catalog a test opens — by
 * `openDatabase(<sqlite file>)`, directly or through tempCatalog — is opened on PostgreSQL instead, in
 * this test file's own database of the run's cluster (test/support/pg-global-setup.ts). Each SQLite
 * path becomes its own schema there, so a test that closes and reopens "the same file" (a restart)
 * finds its rows again, and two paths are two catalogs, as with files.
 */
const database = `vigil_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
let created: Promise<string> | undefined;

function fileDatabaseUrl(): Promise<string> {
  created ??= (async () => {
    const admin = inject('pgAdminUrl');
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${database}`);
    } finally {
      await client.end();
    }
    return admin.replace(/\/[^/]*$/, `/${database}`);
  })();
  return created;
}

/** The schema that stands for a SQLite file path. */
export function schemaOfPath(path: string): string {
  return `c_${createHash('sha256').update(path).digest('hex').slice(0, 20)}`;
}

vi.mock('../../src/db/connection.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/db/connection.js')>();
  return {
    ...real,
    openDatabase: async (target: string, opts?: Parameters<typeof real.openDatabase>[1]) =>
      /^postgres(ql)?:\/\//.test(target) ? real.openDatabase(target, opts) : real.openDatabase(await fileDatabaseUrl(), { schema: schemaOfPath(target), maxConnections: 4 }),
  };
});
