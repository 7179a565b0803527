import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type OpenedDb } from './connection.js';
import { logEvent, type NewEvent } from './event.repo.js';
import { IDLE_IN_TRANSACTION_MS } from './postgres.js';
import { CatalogUnavailableError } from './write-errors.js';
import { tempCatalog } from '../../test/support/temp-catalog.js';

/**
 * Two processes on one PostgreSQL catalog (two nodes of a cluster). One stops while inside a transaction
 * (SIGSTOP, a frozen VM): it holds the catalog's transaction lock (postgres.ts) and sends nothing more.
 * The server ends its session after IDLE_IN_TRANSACTION_MS, so the other's writes (its segment rows,
 * its lease takeovers) go on instead of timing out behind it for as long as it stays stopped.
 */
let cat: { dir: string; opened: OpenedDb };
tempCatalog('vigil-pg-stopped-', (c) => (cat = c));
let other: OpenedDb | undefined;
afterEach(async () => {
  await other?.close();
  other = undefined;
});

const ev = (type: string): NewEvent => ({ tsMs: 1, type, severity: 'info', cameraId: null, requestId: null, payload: {} });

describe('a process stopped inside a transaction on PostgreSQL', () => {
  it('is cut off by the server: the other process writes after ~3 s, and the stopped one\'s transaction is rolled back', async () => {
    expect(cat.opened.engine).toBe('postgres');
    other = await openDatabase(join(cat.dir, 'vigil.db'));
    let thaw: () => void = () => undefined;
    const stopped = new Promise<void>((r) => (thaw = r));
    let inside: () => void = () => undefined;
    const holding = new Promise<void>((r) => (inside = r));
    const frozen = cat.opened.db.transaction().execute(async (trx) => {
      await logEvent(trx, ev('written before the stop'));
      inside();
      await stopped;
      await logEvent(trx, ev('written after the thaw'));
    });
    const frozenOutcome = frozen.then(() => 'committed', (err: unknown) => err);
    await holding;
    const t0 = Date.now();
    // Without the server's cut-off this waits for the lock until its 5 s timeout and fails as busy.
    await logEvent(other.db, ev('the other process'));
    const waitedMs = Date.now() - t0;
    expect(waitedMs).toBeGreaterThanOrEqual(IDLE_IN_TRANSACTION_MS - 500);
    expect(waitedMs).toBeLessThan(5000);
    thaw();
    const outcome = await frozenOutcome;
    expect(outcome).not.toBe('committed');
    // The stopped process's session is gone: told as the catalog being unreachable (its caller retries).
    expect(outcome).toBeInstanceOf(CatalogUnavailableError);
    expect((outcome as CatalogUnavailableError).reason).toBe('unreachable');
    const types = (await other.db.selectFrom('events').select('type').orderBy('id').execute()).map((r) => r.type);
    expect(types).toEqual(['the other process']);
    // The stopped one's pool goes on with a fresh session.
    await logEvent(cat.opened.db, ev('after'));
  }, 20_000);
});
