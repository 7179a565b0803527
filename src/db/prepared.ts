/**
 * Queries Kysely compiles once per catalog and runs again with each call's values.
 *
 * Kysely builds a query's operation tree and compiles it to SQL on every call. For the small indexed
 * queries every API request runs (the caller's API key or session, the camera's existence, a page of
 * segments) that costs about as much as running them: a camera look-up 11 µs built each time, 6 µs
 * compiled once (docs/proof.md). A prepared query is built once with a slot in place of each value;
 * the compiled SQL is kept for the catalog it was made on, and each run puts the call's values where
 * the slots were.
 */
import type { CompiledQuery, Compilable } from 'kysely';
import type { Db } from './connection.js';

/** Where one named value goes. It is not a value: using it as one (arithmetic, a comparison, a string) throws. */
class Slot {
  constructor(readonly name: string) {}
  [Symbol.toPrimitive](): never {
    throw new Error(`prepared query: "${this.name}" was used as a value while the query was built; build() may only hand it to Kysely`);
  }
}

/** A slot for every name `build` reads from its values. */
function slotsFor<V extends object>(): V {
  return new Proxy({}, {
    get: (_t, key) => (typeof key === 'string' ? new Slot(key) : undefined),
  }) as V;
}

export type Prepared<V extends object, R, K extends string | number> = (db: Db, values: V, ...variant: [K] extends [never] ? [] : [K]) => Promise<R[]>;

/**
 * A query made by `build` and run with `values`. `build` must only hand its values to Kysely (as the
 * operands of `where`, `set`, `values` …): it sees slots, not the values, so it cannot branch on them.
 * What changes the SQL's text (a LIMIT, a clause present or not) comes as `variant`, a plain value
 * that is part of the kept query's key. Every slot `build` used must have a value at run time.
 */
export function prepared<V extends object, R, K extends string | number = never>(build: (db: Db, values: V, variant: K) => Compilable<R>): Prepared<V, R, K> {
  const kept = new WeakMap<Db, Map<string | number, CompiledQuery<R>>>();
  const compiledFor = (db: Db, variant: K): CompiledQuery<R> => {
    let byVariant = kept.get(db);
    if (!byVariant) kept.set(db, (byVariant = new Map()));
    const key = variant ?? '';
    let c = byVariant.get(key);
    if (!c) {
      c = build(db, slotsFor<V>(), variant).compile();
      if (c.parameters.some((p) => p === undefined)) throw new Error('prepared query: build() read a value that is not a slot (a nested field?)');
      byVariant.set(key, c);
    }
    return c;
  };
  return async (db, values, ...variant) => {
    const c = compiledFor(db, variant[0] as K);
    const parameters = c.parameters.map((p) => {
      if (!(p instanceof Slot)) return p;
      const v = (values as Record<string, unknown>)[p.name];
      if (v === undefined) throw new Error(`prepared query: no value for "${p.name}"`);
      return v;
    });
    return (await db.executeQuery<R>({ ...c, parameters })).rows;
  };
}
