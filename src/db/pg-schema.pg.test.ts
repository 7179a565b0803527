import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openDatabase, type Db, type OpenedDb } from './connection.js';
import { parseInt8, parseNumeric } from './postgres.js';

/**
 * The PostgreSQL baseline (migrations/postgres/0011-baseline.ts) is the SQLite schema after 0011:
 * the same tables, columns in the same order, nullability, primary keys, uniques, foreign keys (and
 * what a delete does to them), defaults, named indexes and triggers. The postgres project only: the
 * SQLite catalog is opened with the real `openDatabase`, the other one is this file's PostgreSQL
 * catalog (test/support/pg-per-file.ts).
 */
const real = await vi.importActual<typeof import('./connection.js')>('./connection.js');

interface Shape {
  columns: Record<string, string[]>;
  uniques: string[];
  foreignKeys: string[];
  indexes: string[];
  triggers: string[];
}

const normDefault = (d: string | null) => (d === null ? 'null' : d.replace(/::[a-z ]+$/, '').replace(/^\((.*)\)$/, '$1'));

async function sqliteShape(db: Db): Promise<Shape> {
  const tables = (await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'kysely_%' ORDER BY name`.execute(db)).rows.map((r) => r.name);
  const columns: Record<string, string[]> = {};
  const uniques: string[] = [];
  const foreignKeys: string[] = [];
  for (const t of tables) {
    const cols = (await sql<{ name: string; notnull: number; pk: number; dflt_value: string | null }>`SELECT * FROM pragma_table_info(${t})`.execute(db)).rows;
    // A primary key is never NULL (SQLite's TEXT PRIMARY KEY would allow it, Vigil never writes one).
    columns[t] = cols.map((c) => `${c.name} ${c.notnull || c.pk ? 'not null' : 'null'}${c.pk ? ` pk${c.pk}` : ''} default ${normDefault(c.dflt_value)}`);
    for (const ix of (await sql<{ name: string; origin: string }>`SELECT * FROM pragma_index_list(${t})`.execute(db)).rows.filter((i) => i.origin === 'u')) {
      const cs = (await sql<{ name: string }>`SELECT name FROM pragma_index_info(${ix.name}) ORDER BY seqno`.execute(db)).rows.map((c) => c.name);
      uniques.push(`${t}(${cs.join(',')})`);
    }
    for (const fk of (await sql<{ from: string; table: string; to: string; on_delete: string }>`SELECT * FROM pragma_foreign_key_list(${t})`.execute(db)).rows) {
      foreignKeys.push(`${t}.${fk.from} → ${fk.table}.${fk.to} on delete ${fk.on_delete.toLowerCase()}`);
    }
  }
  const named = async (type: string) => (await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = ${type} AND sql IS NOT NULL ORDER BY name`.execute(db)).rows.map((r) => r.name);
  return { columns, uniques: uniques.sort(), foreignKeys: foreignKeys.sort(), indexes: await named('index'), triggers: await named('trigger') };
}

async function postgresShape(db: Db): Promise<Shape> {
  const cols = (
    await sql<{ t: string; c: string; nullable: string; def: string | null; pk: number | null }>`
      SELECT c.table_name AS t, c.column_name AS c, c.is_nullable AS nullable, c.column_default AS def,
             (SELECT k.ordinal_position FROM information_schema.table_constraints tc
                JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
               WHERE tc.table_schema = c.table_schema AND tc.table_name = c.table_name AND tc.constraint_type = 'PRIMARY KEY' AND k.column_name = c.column_name) AS pk
        FROM information_schema.columns c
       WHERE c.table_schema = current_schema() AND c.table_name NOT LIKE 'kysely_%'
       ORDER BY c.table_name, c.ordinal_position`.execute(db)
  ).rows;
  const columns: Record<string, string[]> = {};
  for (const r of cols) (columns[r.t] ??= []).push(`${r.c} ${r.nullable === 'NO' ? 'not null' : 'null'}${r.pk ? ` pk${r.pk}` : ''} default ${normDefault(r.def)}`);
  const uniques = (
    await sql<{ u: string }>`
      SELECT conrelid::regclass::text || '(' || (SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM unnest(conkey) WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = conrelid AND a.attnum = k.attnum) || ')' AS u
        FROM pg_constraint WHERE contype = 'u' AND connamespace = current_schema()::regnamespace`.execute(db)
  ).rows.map((r) => r.u);
  const onDelete: Record<string, string> = { a: 'no action', c: 'cascade', n: 'set null', r: 'restrict', d: 'set default' };
  const foreignKeys = (
    await sql<{ t: string; col: string; ref: string; refcol: string; del: string }>`
      SELECT c.conrelid::regclass::text AS t, a.attname AS col, c.confrelid::regclass::text AS ref, af.attname AS refcol, c.confdeltype AS del
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
       WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace`.execute(db)
  ).rows.map((r) => `${r.t}.${r.col} → ${r.ref}.${r.refcol} on delete ${onDelete[r.del]}`);
  const indexes = (
    await sql<{ name: string }>`SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema() AND indexname NOT LIKE '%\_pkey' AND indexname NOT LIKE '%\_key' AND tablename NOT LIKE 'kysely_%' ORDER BY 1`.execute(db)
  ).rows.map((r) => r.name);
  const triggers = (
    await sql<{ name: string }>`SELECT DISTINCT trigger_name AS name FROM information_schema.triggers WHERE trigger_schema = current_schema() ORDER BY 1`.execute(db)
  ).rows.map((r) => r.name);
  return { columns, uniques: uniques.sort(), foreignKeys: foreignKeys.sort(), indexes, triggers };
}

describe('the PostgreSQL baseline equals the SQLite schema', () => {
  let dir: string;
  let lite: OpenedDb;
  let post: OpenedDb;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-pg-schema-'));
    lite = await real.openDatabase(join(dir, 'vigil.db'));
    post = await openDatabase(join(dir, 'other.db'));
  });
  afterAll(async () => {
    await lite.close();
    await post.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('tables, columns (order, nullability, keys, defaults), uniques, foreign keys, indexes and triggers', async () => {
    expect([lite.engine, post.engine]).toEqual(['sqlite', 'postgres']);
    const [a, b] = [await sqliteShape(lite.db), await postgresShape(post.db)];
    expect(Object.keys(a.columns).length).toBe(23);
    expect(b.columns).toEqual(a.columns);
    expect(b.uniques).toEqual(a.uniques);
    expect(b.foreignKeys).toEqual(a.foreignKeys);
    expect(b.indexes).toEqual(a.indexes);
    expect(b.triggers).toEqual(a.triggers);
  });

  it('the append-only triggers refuse with the same words on both engines', async () => {
    for (const o of [lite, post]) {
      await sql`INSERT INTO audit_log (ts_ms, actor_kind, action, outcome) VALUES (1, 'system', 'x', 'success')`.execute(o.db);
      await expect(sql`UPDATE audit_log SET action = 'y'`.execute(o.db), o.engine).rejects.toThrow(/audit_log is append-only/);
      await expect(sql`DELETE FROM audit_log`.execute(o.db), o.engine).rejects.toThrow(/audit_log is append-only/);
    }
  });

  it('reads BIGINT and SUM as exact numbers and refuses a value beyond 2^53 rather than rounding it', async () => {
    expect(parseInt8('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => parseInt8('9007199254740993')).toThrow(/beyond Number.MAX_SAFE_INTEGER/);
    expect(parseNumeric('-42')).toBe(-42);
    expect(parseNumeric('2.5')).toBe(2.5);
    expect(() => parseNumeric('18014398509481984')).toThrow(RangeError);
    await sql`INSERT INTO login_failures (username, failures, first_failure_at_ms) VALUES ('a', 1, 9007199254740991), ('b', 1, 9007199254740993)`.execute(post.db);
    const ok = await sql<{ v: number }>`SELECT first_failure_at_ms AS v FROM login_failures WHERE username = 'a'`.execute(post.db);
    expect(ok.rows[0]?.v).toBe(Number.MAX_SAFE_INTEGER);
    await expect(sql`SELECT first_failure_at_ms FROM login_failures WHERE username = 'b'`.execute(post.db)).rejects.toThrow(/9007199254740993 is beyond Number.MAX_SAFE_INTEGER/);
    await expect(sql`SELECT SUM(first_failure_at_ms) FROM login_failures`.execute(post.db)).rejects.toThrow(RangeError);
    const small = await sql<{ s: number; n: number }>`SELECT SUM(failures) AS s, COUNT(*) AS n FROM login_failures`.execute(post.db);
    expect(small.rows[0]).toEqual({ s: 2, n: 2 });
  });
});
