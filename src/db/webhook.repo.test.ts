import { beforeEach, describe, expect, it } from 'vitest';
import type { Db, OpenedDb } from './connection.js';
import { logEvent } from './event.repo.js';
import { advanceCursor, insertWebhook, listDueDeliveries, listWebhooks, nextDueMs, updateWebhook, type NewWebhook } from './webhook.repo.js';
import { tempCatalog } from '../../test/support/temp-catalog.js';

const T0 = Date.UTC(2024, 2, 9, 7, 0, 0);

let opened: OpenedDb;
let db: Db;

tempCatalog('vigil-webhook-repo-', (c) => (opened = c.opened));

beforeEach(() => {
  db = opened.db;
});

const hook = (name: string, enabled: boolean): NewWebhook => ({
  name,
  url: `https://receiver.example/${name}`,
  secret: 's'.repeat(32),
  eventTypes: null,
  minSeverity: 'info',
  cameras: null,
  enabled,
});

let n = 0;
const newId = () => `delivery-${++n}`;

/** The queries the dispatcher runs at every pass, compiled once and run with each call's values (and shape). */
describe('the dispatcher pass queries', () => {
  it('lists every subscription, or the enabled ones only, whichever was asked first', async () => {
    const on = await insertWebhook(db, hook('on', true), T0);
    const off = await insertWebhook(db, hook('off', false), T0);
    // Each shape asked twice, in both orders: a kept query of one shape must not answer for the other.
    expect((await listWebhooks(db, { enabledOnly: true })).map((w) => w.id)).toEqual([on.id]);
    expect((await listWebhooks(db)).map((w) => w.id)).toEqual([on.id, off.id]);
    expect((await listWebhooks(db, { enabledOnly: true })).map((w) => w.id)).toEqual([on.id]);
    expect((await listWebhooks(db, { enabledOnly: false })).map((w) => w.id)).toEqual([on.id, off.id]);
    await updateWebhook(db, off.id, { enabled: true }, T0 + 1);
    expect((await listWebhooks(db, { enabledOnly: true })).map((w) => w.id)).toEqual([on.id, off.id]);
  });

  it('gives the deliveries due by the time asked, earliest first, up to the limit asked, and when the next falls due', async () => {
    const a = await insertWebhook(db, hook('a', true), T0);
    const b = await insertWebhook(db, hook('b', true), T0);
    expect(await nextDueMs(db)).toBeUndefined();
    for (let i = 0; i < 3; i++) await logEvent(db, { tsMs: T0 + i, type: 'camera_offline', severity: 'warning', cameraId: null, payload: {}, requestId: null });
    // Hook a's three deliveries are due at T0 + 100, b's at T0 + 50.
    await advanceCursor(db, a.id, { batch: 10, nowMs: T0 + 100, matches: () => true, newId });
    await advanceCursor(db, b.id, { batch: 10, nowMs: T0 + 50, matches: () => true, newId });
    expect(await nextDueMs(db)).toBe(T0 + 50);
    expect(await listDueDeliveries(db, T0 + 49, 10)).toEqual([]);
    expect((await listDueDeliveries(db, T0 + 50, 10)).map((d) => d.webhookId)).toEqual([b.id, b.id, b.id]);
    const all = await listDueDeliveries(db, T0 + 100, 10);
    expect(all.map((d) => d.webhookId)).toEqual([b.id, b.id, b.id, a.id, a.id, a.id]);
    // Another limit is another query; the first still answers with its own.
    expect((await listDueDeliveries(db, T0 + 100, 2)).map((d) => d.id)).toEqual(all.slice(0, 2).map((d) => d.id));
    expect(await listDueDeliveries(db, T0 + 100, 10)).toHaveLength(6);
    // A disabled subscription's deliveries are neither due nor next.
    await updateWebhook(db, b.id, { enabled: false }, T0 + 1);
    expect((await listDueDeliveries(db, T0 + 100, 10)).map((d) => d.webhookId)).toEqual([a.id, a.id, a.id]);
    expect(await nextDueMs(db)).toBe(T0 + 100);
  });
});
