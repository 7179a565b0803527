import type { Migration } from 'kysely';
import * as pg0011 from './postgres/0011-baseline.js';
import * as m0001 from './sqlite/0001-initial.js';
import * as m0002 from './sqlite/0002-footage-lifecycle.js';
import * as m0003 from './sqlite/0003-anr.js';
import * as m0004 from './sqlite/0004-access.js';
import * as m0005 from './sqlite/0005-evidence.js';
import * as m0006 from './sqlite/0006-media-offset.js';
import * as m0007 from './sqlite/0007-webhooks.js';
import * as m0008 from './sqlite/0008-onvif.js';
import * as m0009 from './sqlite/0009-motion.js';
import * as m0010 from './sqlite/0010-motion-density.js';
import * as m0011 from './sqlite/0011-camera-audio.js';
import { migration as s0012 } from './shared/0012-cluster.js';
import { migration as s0013 } from './shared/0013-segments-end-in-index.js';
import { migration as s0014 } from './shared/0014-segment-rows-in-index.js';
import { migration as s0015 } from './shared/0015-segment-keyframe-fragments.js';

import type { CatalogEngine, SharedMigration } from './types.js';

export type { CatalogEngine, SharedMigration } from './types.js';

/**
 * Numbered migrations, applied in order at start-up (docs/design.md, "Catalog engines"). Never edit
 * one that has shipped; add the next to SHARED.
 *
 * - SQLite runs 0001…0011 (SQLite's own constructs: STRICT tables, AUTOINCREMENT, json_valid CHECKs).
 * - PostgreSQL starts from one baseline, `0011-baseline`, equal to the SQLite schema after 0011
 *   (`src/db/pg-schema.pg.test.ts` compares tables, columns, nullability, keys and indexes of both).
 * - From 0012 on, every migration is one SharedMigration, run by both engines under the same name.
 */
const SQLITE_ONLY: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-footage-lifecycle': m0002,
  '0003-anr': m0003,
  '0004-access': m0004,
  '0005-evidence': m0005,
  '0006-media-offset': m0006,
  '0007-webhooks': m0007,
  '0008-onvif': m0008,
  '0009-motion': m0009,
  '0010-motion-density': m0010,
  '0011-camera-audio': m0011,
};

const POSTGRES_BASELINE: Record<string, Migration> = {
  '0011-baseline': pg0011,
};

/** Migrations after the baseline, both engines. */
const SHARED: Record<string, SharedMigration> = {
  '0012-cluster': s0012,
  '0013-segments-end-in-index': s0013,
  '0014-segment-rows-in-index': s0014,
  '0015-segment-keyframe-fragments': s0015,
};

export function migrationsFor(engine: CatalogEngine, shared: Record<string, SharedMigration> = SHARED): Record<string, Migration> {
  const out: Record<string, Migration> = { ...(engine === 'sqlite' ? SQLITE_ONLY : POSTGRES_BASELINE) };
  for (const [name, m] of Object.entries(shared)) {
    if (name <= '0011-~') throw new Error(`shared migration ${name} must be numbered after 0011`);
    out[name] = { up: (db) => m.up(db, engine) };
  }
  return out;
}
