import Database from 'better-sqlite3';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCatalog } from '../support/footage.js';
import { injectVigil, type InjectVigil } from '../support/http-inject.js';

describe('a catalog that cannot take a write', () => {
  let vigil: InjectVigil;

  beforeAll(async () => {
    vigil = await injectVigil({ cameras: [{ id: 'cam1', main_url: 'rtsp://127.0.0.1:9/x', enabled: false }] });
  });
  afterAll(async () => {
    await vigil.close();
  });

  it('answers 503 with Retry-After 1 and the request id while another writer holds it, changes nothing, and works once it is free', async () => {
    // Another writer holds the catalog past the busy timeout (shortened from 5 s): SQLITE_BUSY, as in a
    // long checkpoint or a second process, reaches the API as a passing condition, never as a 500.
    await sql.raw('PRAGMA busy_timeout = 20').execute(vigil.app.db);
    const other = new Database(join(vigil.dataDir, 'vigil.db'));
    const before = readCatalog(vigil.dataDir);
    other.exec('BEGIN IMMEDIATE');
    let res;
    try {
      res = await vigil.api('POST', '/cameras', { body: { id: 'cam2', main_url: 'rtsp://127.0.0.1:9/y', enabled: false }, requestId: 'req-busy' });
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json).toEqual({ error: 'unavailable', message: 'the database is busy: nothing was changed; try again', request_id: 'req-busy' });
    expect(res.text).not.toContain('SQLITE');
    expect(readCatalog(vigil.dataDir).status).toEqual(before.status);
    expect(vigil.logs()).toContain('the database is busy');
    const again = await vigil.api('POST', '/cameras', { body: { id: 'cam2', main_url: 'rtsp://127.0.0.1:9/y', enabled: false } });
    expect(again.status).toBe(201);
  });
});
