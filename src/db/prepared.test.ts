import { describe, expect, it } from 'vitest';
import { tempCatalog } from '../../test/support/temp-catalog.js';
import type { OpenedDb } from './connection.js';
import { prepared } from './prepared.js';
import { upsertDeclaredCamera } from './camera.repo.js';

const camera = (id: string) => ({ id, name: id, mainUrl: 'rtsp://127.0.0.1:9/x', subUrl: null, segmentSeconds: 60, retentionHours: null, storageQuotaBytes: null, enabled: true });

describe('a prepared query', () => {
  let cat: { opened: OpenedDb };
  tempCatalog('vigil-prepared-', (c) => (cat = c));

  it('is built once per catalog and variant, and each run reads with its own values', async () => {
    const { db } = cat.opened;
    for (const id of ['a', 'b', 'c']) await upsertDeclaredCamera(db, camera(id), 'config', 1_000);
    let builds = 0;
    const q = prepared((d, v: { first: string; except: string }, limit: number) => {
      builds++;
      return d.selectFrom('cameras').select('id').where('id', '>=', v.first).where('id', '!=', v.except).orderBy('id').limit(limit);
    });
    expect(await q(db, { first: 'a', except: 'b' }, 10)).toEqual([{ id: 'a' }, { id: 'c' }]);
    expect(await q(db, { first: 'b', except: 'c' }, 10)).toEqual([{ id: 'b' }]);
    expect(await q(db, { first: 'a', except: 'z' }, 2)).toEqual([{ id: 'a' }, { id: 'b' }]);
    expect(await q(db, { first: 'a', except: 'a' }, 2)).toEqual([{ id: 'b' }, { id: 'c' }]);
    expect(builds).toBe(2);
    // A query built with a value where a slot belongs would repeat that value: the runs above differ.
  });

  it('refuses a build that uses a value instead of handing it to Kysely, and a run without a value', async () => {
    const { db } = cat.opened;
    const arithmetic = prepared((d, v: { fromMs: number }) => d.selectFrom('segments').select('id').where('start_ms', '>', v.fromMs - 1000));
    await expect(arithmetic(db, { fromMs: 5 })).rejects.toThrow(/"fromMs" was used as a value/);
    const nested = prepared((d, v: { after: { id: number } }) => d.selectFrom('segments').select('id').where('id', '>', v.after.id));
    await expect(nested(db, { after: { id: 1 } })).rejects.toThrow(/not a slot/);
    const q = prepared((d, v: { id: string }) => d.selectFrom('cameras').select('id').where('id', '=', v.id));
    await expect(q(db, {} as { id: string })).rejects.toThrow(/no value for "id"/);
  });
});
