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
