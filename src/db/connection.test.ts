import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { OpenedDb } from './connection.js';
import { tempCatalog } from '../../test/support/temp-catalog.js';

let opened: OpenedDb;
tempCatalog('vigil-connection-', (c) => (opened = c.opened));

/** Rows are read as arrays and made into objects by a function compiled per statement (connection.ts). */
describe('row objects of the SQLite catalog', () => {
  it('have every column as its own key, in the order of the result, the later of two equal names winning', async () => {
    const { rows } = await sql<Record<string, unknown>>`SELECT 1 AS a, 'two' AS b, NULL AS c, 3 AS a, 4 AS "it's ""quoted""", 5 AS "x}; globalThis.pwned = 1; ({"`.execute(opened.db);
    expect(rows).toHaveLength(1);
    const [row] = rows as [Record<string, unknown>];
    expect(Object.keys(row)).toEqual(['a', 'b', 'c', `it's "quoted"`, 'x}; globalThis.pwned = 1; ({']);
    expect(row).toEqual({ a: 3, b: 'two', c: null, [`it's "quoted"`]: 4, 'x}; globalThis.pwned = 1; ({': 5 });
    expect((globalThis as { pwned?: unknown }).pwned).toBeUndefined();
  });

  it('keep a column named __proto__ as a key, not as the prototype', async () => {
    const { rows } = await sql<Record<string, unknown>>`SELECT 1 AS "__proto__", 2 AS b`.execute(opened.db);
    const [row] = rows as [Record<string, unknown>];
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(row, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(row, '__proto__')?.value).toBe(1);
    expect(row['b']).toBe(2);
  });

  it('of a statement run again with other rows are made by the same kept statement', async () => {
    await sql`CREATE TABLE t (k INTEGER, v TEXT)`.execute(opened.db);
    for (const [k, v] of [[1, 'a'], [2, 'b'], [3, null]] as const) await sql`INSERT INTO t VALUES (${k}, ${v})`.execute(opened.db);
    const read = async (min: number) => (await sql<{ k: number; v: string | null }>`SELECT k, v FROM t WHERE k >= ${min} ORDER BY k`.execute(opened.db)).rows;
    expect(await read(1)).toEqual([{ k: 1, v: 'a' }, { k: 2, v: 'b' }, { k: 3, v: null }]);
    expect(await read(3)).toEqual([{ k: 3, v: null }]);
    expect(await read(9)).toEqual([]);
  });
});

/** SQLite plans with a bound LIMIT's value, re-preparing such a statement at every run: limits are written into the SQL. */
describe('LIMIT and OFFSET of the SQLite catalog', () => {
  it('are written into the SQL when they are integers, and each limit reads its own number of rows', async () => {
    const { db, engine } = opened;
    if (engine !== 'sqlite') return;
    await sql`CREATE TABLE n (k INTEGER)`.execute(db);
    for (let k = 1; k <= 5; k++) await sql`INSERT INTO n VALUES (${k})`.execute(db);
    const page = (limit: number, offset: number) => (db as unknown as import('kysely').Kysely<{ n: { k: number } }>).selectFrom('n').select('k').orderBy('k').limit(limit).offset(offset);
    const compiled = page(2, 1).compile();
    expect(compiled.sql).toMatch(/limit 2 offset 1$/);
    expect(compiled.parameters).toEqual([]);
    expect((await page(2, 1).execute()).map((r) => r.k)).toEqual([2, 3]);
    expect((await page(3, 0).execute()).map((r) => r.k)).toEqual([1, 2, 3]);
    expect((await page(2, 4).execute()).map((r) => r.k)).toEqual([5]);
  });

  it('stay parameters when they are not safe integers, so that nothing but digits is ever written into the SQL', () => {
    if (opened.engine !== 'sqlite') return;
    const q = (opened.db as unknown as import('kysely').Kysely<{ n: { k: number } }>).selectFrom('n').select('k');
    for (const bad of [2.5, Number.NaN, 2 ** 60, '1; DROP TABLE n' as unknown as number]) {
      const compiled = q.limit(bad).offset(bad).compile();
      expect(compiled.sql).toMatch(/limit \? offset \?$/);
      expect(compiled.parameters).toEqual([bad, bad]);
    }
  });
});
