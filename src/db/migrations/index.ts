import type { Migration } from 'kysely';
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

/** The catalog engines Vigil's migrations are written for. */
export type CatalogEngine = 'sqlite';

/**
 * Numbered migrations per engine, applied in order at start-up. Never edit one that has shipped; add
 * the next. The SQLite migrations use SQLite's own constructs (STRICT tables, AUTOINCREMENT, json_valid
 * CHECKs); the PostgreSQL catalog starts from one baseline equal to the SQLite schema at that point and
 * then takes every later migration from the same source (docs/design.md, "Catalog engines").
 */
const MIGRATIONS: Record<CatalogEngine, Record<string, Migration>> = {
  sqlite: {
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
  },
};

export function migrationsFor(engine: CatalogEngine): Record<string, Migration> {
  return MIGRATIONS[engine];
}
