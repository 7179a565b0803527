import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OpenedDb } from './connection.js';
import { logEvent, type NewEvent } from './event.repo.js';
import { tempCatalog } from '../../test/support/temp-catalog.js';

/**
 * What SQLite gives by having one writer, PostgreSQL must give with its transaction lock
 * (src/db/postgres.ts): an event id never becomes visible before a lower one (webhooks read the log
 * past a cursor and would skip the lower one forever).
 */
let opened: OpenedDb;
tempCatalog('vigil-pg-order-', (c) => (opened = c.opened));

const ev = (type: string): NewEvent => ({ tsMs: 1, type, severity: 'info', cameraId: null, requestId: null, payload: {} });

describe('event ids commit in order on PostgreSQL', () => {
  let release: () => void = () => undefined;
  beforeEach(() => {
    expect(opened.engine).toBe('postgres');
  });
  afterEach(() => release());

  it('an event logged while a transaction that logged one is open becomes visible only after it, with the higher id', async () => {
    const db = opened.db;
    const gate = new Promise<void>((r) => (release = r));
    let inserted: () => void = () => undefined;
    const firstIn = new Promise<void>((r) => (inserted = r));
    const order: string[] = [];
    const first = db.transaction().execute(async (trx) => {
      const id = await logEvent(trx, ev('first'));
      inserted();
      await gate;
      return id;
    });
    await firstIn;
    const second = logEvent(db, ev('second')).then((id) => {
      order.push('second');
      return id;
    });
    // While the first is uncommitted, what a cursor reader sees holds no later event without it.
    await new Promise((r) => setTimeout(r, 300));
    const visible = (await db.selectFrom('events').select('type').orderBy('id').execute()).map((r) => r.type);
    expect(visible).toEqual([]);
    order.push('first committed');
    release();
    const [a, b] = [await first, await second];
    expect(order).toEqual(['first committed', 'second']);
    expect(b).toBeGreaterThan(a);
    expect((await db.selectFrom('events').select('type').orderBy('id').execute()).map((r) => r.type)).toEqual(['first', 'second']);
  });
});
