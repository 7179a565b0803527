import type { Migration } from 'kysely';
import * as m0001 from './0001-initial.js';
import * as m0002 from './0002-footage-lifecycle.js';
import * as m0003 from './0003-anr.js';
import * as m0004 from './0004-access.js';

/** Numbered migrations, applied in order at start-up. Never edit one that has shipped; add the next. */
export const migrations: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-footage-lifecycle': m0002,
  '0003-anr': m0003,
  '0004-access': m0004,
};
