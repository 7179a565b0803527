import { sql } from 'kysely';
import type { Db } from './connection.js';
import type { GapFillState } from './gap.repo.js';
import type { ExportState } from './schema.js';

/**
 * Aggregates read when Prometheus scrapes `/metrics`: one statement per family for every camera at
 * once, so a scrape costs the same few queries with 1 camera or 100.
 */

export interface GapTotals {
  cameraId: string;
  /** As the API shows it: a pending gap of a camera without edge replay is `not_applicable`. */
  fillState: GapFillState;
  gaps: number;
  seconds: number;
}

/** Recorded gaps per camera and refill state: how many and how long (seconds), every camera in one query. */
export async function gapTotalsByCamera(db: Db): Promise<GapTotals[]> {
  const rows = await db
    .selectFrom('recording_gaps as g')
    .leftJoin('cameras as c', 'c.id', 'g.camera_id')
    .select([
      'g.camera_id',
      'g.fill_state',
      'c.anr_enabled',
      sql<number>`count(*)`.as('n'),
      sql<number>`sum(g.gap_end_ms - g.gap_start_ms)`.as('ms'),
    ])
    .groupBy(['g.camera_id', 'g.fill_state', 'c.anr_enabled'])
    .execute();
  const out = new Map<string, GapTotals>();
  for (const r of rows) {
    const fillState: GapFillState = r.fill_state === 'pending' && r.anr_enabled !== 1 ? 'not_applicable' : r.fill_state;
    const key = `${r.camera_id}\u0000${fillState}`;
    const t = out.get(key) ?? { cameraId: r.camera_id, fillState, gaps: 0, seconds: 0 };
    t.gaps += Number(r.n);
    t.seconds += Number(r.ms) / 1000;
    out.set(key, t);
  }
  return [...out.values()];
}

/** Evidence export jobs per state (queued ones are the export queue's depth). */
export async function exportJobsByState(db: Db): Promise<Map<ExportState, number>> {
  const rows = await db.selectFrom('exports').select(['state', sql<number>`count(*)`.as('n')]).groupBy('state').execute();
  return new Map(rows.map((r) => [r.state, Number(r.n)]));
}
