import type { Kysely } from 'kysely';

/** The catalog engines Vigil's migrations are written for. */
export type CatalogEngine = 'sqlite' | 'postgres';

/**
 * A migration after the PostgreSQL baseline: one source for both engines. `up` is handed the engine so
 * that the few constructs that differ (a STRICT table, AUTOINCREMENT, a json_valid CHECK) are chosen in
 * one place, next to the rest of the change; everything else is the same statement on both.
 */
export interface SharedMigration {
  up(db: Kysely<unknown>, engine: CatalogEngine): Promise<void>;
}
