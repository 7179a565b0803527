import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WebhooksConfig } from '../config/webhooks-config.js';
import type { Db } from '../db/connection.js';
import { EventLog } from '../events/event-log.js';
import { systemClock } from '../shared/clock.js';
import { sleep } from '../shared/sleep.js';
import { tempCatalog } from '../../test/support/temp-catalog.js';
import { waitFor } from '../../test/support/harness.js';
import { WebhookReceiver } from '../../test/support/webhook-receiver.js';
import type { Resolver } from './address-policy.js';
import { verifySignature } from './signature.js';
import { WebhookService } from './webhook.service.js';

const log = pino({ level: 'silent' });

type Verifier = (rawBody: Buffer, header: unknown, secret: string) => boolean;

/** The `verifyVigil` snippet of docs/api.md ("Verifying a delivery"), compiled as a receiver would paste it. */
async function documentedVerifier(): Promise<Verifier> {
  const doc = await readFile(new URL('../../docs/api.md', import.meta.url), 'utf8');
  const code = /```js\n(import \{ createHmac, timingSafeEqual \} from 'node:crypto';[\s\S]*?)```/.exec(doc)?.[1];
  if (!code) throw new Error('docs/api.md has no verification snippet');
  const body = code.replace(/^import .*$/m, '').replace('export function', 'function');
  return new Function('createHmac', 'timingSafeEqual', 'Buffer', `${body}\nreturn verifyVigil;`)(createHmac, timingSafeEqual, Buffer) as Verifier;
}
const CONFIG: WebhooksConfig = { allowPrivateNetworks: ['127.0.0.0/8'], timeoutSeconds: 1, maxAttempts: 3, backoffInitialMs: 50, backoffMaxMs: 200 };

describe('webhook service (real catalog, real HTTP receiver)', () => {
  let db: Db;
  let events: EventLog;
  let receiver: WebhookReceiver;
  const services: WebhookService[] = [];
  tempCatalog('vigil-webhooks-', (c) => (db = c.opened.db));

  const service = (o: { config?: Partial<WebhooksConfig>; resolve?: Resolver } = {}) => {
    const s = new WebhookService({ db, clock: systemClock, events, log, config: { ...CONFIG, ...o.config }, ...(o.resolve ? { resolve: o.resolve } : {}) });
    services.push(s);
    return s;
  };
  const emit = (type: string, severity: 'info' | 'warning' | 'critical' = 'info', cameraId: string | null = null) =>
    events.emit({ type, severity, cameraId, requestId: null, payload: { n: type } });

  beforeEach(async () => {
    events = new EventLog(db, systemClock, log);
    receiver = await WebhookReceiver.start();
  });
  afterEach(async () => {
    await Promise.all(services.splice(0).map((s) => s.stop()));
    await receiver.stop();
  });

  it('each event past the cursor that a subscription wants (types, severity, cameras) gets one ledger row, and only events after its creation', async () => {
    await emit('camera_created');
    const svc = service();
    const all = await svc.create({ url: receiver.url('/all') });
    const picky = await svc.create({ url: receiver.url('/picky'), eventTypes: ['recording_gap'], minSeverity: 'warning', cameras: ['cam1'] });
    await emit('recording_gap', 'warning', 'cam1');
    await emit('recording_gap', 'info', 'cam1');
    await emit('recording_gap', 'critical', 'cam2');
    await emit('camera_updated', 'critical', 'cam1');
    await emit('vigil_started');
    await svc.dispatchOnce();
    // A second pass, and a second service on the same catalog (a restart), add nothing.
    await svc.dispatchOnce();
    await service().dispatchOnce();
    const rows = async (id: number) => (await svc.deliveries(id, { limit: 100 })).map((d) => d.eventType).sort();
    expect(await rows(all.webhook.id)).toEqual(['camera_updated', 'recording_gap', 'recording_gap', 'recording_gap', 'vigil_started']);
    expect(await rows(picky.webhook.id)).toEqual(['recording_gap']);
    // The loop makes the attempts a single pass leaves waiting for a slot (at most 4 per receiver at once).
    svc.start();
    await waitFor('every delivery made', async () => (await svc.get(all.webhook.id)).deliveries.delivered === 5 && (await svc.get(picky.webhook.id)).deliveries.delivered === 1, 10_000);
    expect(receiver.received).toHaveLength(6);
    const picked = receiver.received.find((r) => JSON.parse(r.body.toString()).webhook_id === picky.webhook.id);
    expect(JSON.parse(picked!.body.toString())).toMatchObject({ type: 'recording_gap', severity: 'warning', camera_id: 'cam1', webhook_id: picky.webhook.id });
    expect(verifySignature(picked!.headers['x-vigil-signature'] as string, picked!.body, picky.secret, Math.floor(Date.now() / 1000)).ok).toBe(true);
    // The verification snippet of docs/api.md, run as documented, accepts it and refuses a changed body.
    const verifyVigil = await documentedVerifier();
    expect(verifyVigil(picked!.body, picked!.headers['x-vigil-signature'], picky.secret)).toBe(true);
    expect(verifyVigil(Buffer.from(picked!.body.toString().replace('cam1', 'cam2')), picked!.headers['x-vigil-signature'], picky.secret)).toBe(false);
    expect(verifyVigil(picked!.body, picked!.headers['x-vigil-signature'], all.secret)).toBe(false);
  });

  it('a receiver that keeps failing: every attempt under one delivery id, then abandoned with the last error and status; a redelivery starts a fresh budget', async () => {
    receiver.behaviour = () => 503;
    const svc = service();
    const { webhook } = await svc.create({ url: receiver.url() });
    svc.start();
    await emit('recording_gap', 'warning', 'cam1');
    const abandoned = await waitFor('abandoned', async () => (await svc.deliveries(webhook.id, { status: 'abandoned', limit: 10 }))[0], 10_000);
    expect(abandoned).toMatchObject({ attempts: 3, responseCode: 503, nextAttemptAtMs: null });
    expect(abandoned.lastError).toMatch(/^HTTP 503: no thanks/);
    expect(receiver.for(abandoned.id)).toHaveLength(3);
    expect(receiver.for(abandoned.id).map((r) => r.headers['x-vigil-attempt'])).toEqual(['1', '2', '3']);
    expect(receiver.for(abandoned.id).every((r) => r.headers['idempotency-key'] === abandoned.id)).toBe(true);

    receiver.behaviour = () => 204;
    const again = await svc.redeliver(webhook.id, abandoned.id);
    expect(again).toMatchObject({ id: abandoned.id, status: 'pending', attempts: 0 });
    const done = await waitFor('delivered', async () => (await svc.deliveries(webhook.id, { status: 'delivered', limit: 10 }))[0], 10_000);
    expect(done).toMatchObject({ id: abandoned.id, attempts: 1, responseCode: 204, lastError: null });
    expect(receiver.for(abandoned.id)).toHaveLength(4);
  });

  it('connects to the address it checked (a name resolved once, Host kept) and refuses a name that now resolves to loopback (DNS rebinding)', async () => {
    // Pinned: "receiver.test" exists only in this resolver; the request reaches the receiver under that Host.
    const svc = service({ resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
    const { webhook } = await svc.create({ url: `http://receiver.test:${receiver.port}/hook` });
    svc.start();
    await emit('camera_created');
    await waitFor('delivered', async () => (await svc.get(webhook.id)).deliveries.delivered === 1, 10_000);
    expect(receiver.received[0]?.headers.host).toBe(`receiver.test:${receiver.port}`);

    // Rebinding: public when saved, loopback when delivered; the strict rule refuses it and sends nothing.
    // The first service stops first: every running service delivers for every subscription, and its
    // resolver (loopback, allowed) would deliver this one if it claimed it first.
    await svc.stop();
    let answer = '93.184.216.34';
    const strict = service({ config: { allowPrivateNetworks: false, maxAttempts: 1 }, resolve: async () => [{ address: answer, family: 4 }] });
    const rebound = await strict.create({ url: `http://rebind.test:${receiver.port}/hook` });
    answer = '127.0.0.1';
    strict.start();
    await emit('camera_updated');
    const row = await waitFor('abandoned', async () => (await strict.deliveries(rebound.webhook.id, { status: 'abandoned', limit: 10 }))[0], 10_000);
    expect(row.lastError).toMatch(/rebind\.test \(127\.0\.0\.1\) is a loopback address/);
    expect(row.responseCode).toBeNull();
    expect(receiver.received.filter((r) => r.headers.host?.startsWith('rebind.test'))).toHaveLength(0);
  });

  it('an attempt that outlives the timeout fails as a timeout, and a stop cuts one short without counting it', async () => {
    receiver.behaviour = () => 'hang';
    const svc = service({ config: { maxAttempts: 1 } });
    const { webhook } = await svc.create({ url: receiver.url() });
    svc.start();
    await emit('camera_created');
    const row = await waitFor('abandoned', async () => (await svc.deliveries(webhook.id, { status: 'abandoned', limit: 10 }))[0], 10_000);
    expect(row.lastError).toBe('timed out after 1 s');

    // Stopped first, or it might claim the next delivery and time it out after its own 1 s.
    await svc.stop();
    const slow = service({ config: { timeoutSeconds: 30 } });
    const second = await slow.create({ url: receiver.url('/slow') });
    slow.start();
    await emit('camera_updated');
    await waitFor('the attempt reached the receiver', () => receiver.received.some((r) => JSON.parse(r.body.toString()).webhook_id === second.webhook.id), 10_000);
    await slow.stop();
    const [cut] = await slow.deliveries(second.webhook.id, { limit: 10 });
    expect(cut).toMatchObject({ status: 'pending', attempts: 0 });
    expect(cut!.nextAttemptAtMs).toBeLessThanOrEqual(Date.now());
  });

  it('a test event goes to its subscription only; events while a subscription was disabled are not sent once it is enabled again', async () => {
    const svc = service();
    const a = await svc.create({ url: receiver.url('/a') });
    const b = await svc.create({ url: receiver.url('/b') });
    svc.start();
    const test = await svc.test(a.webhook.id, { requestId: 'req-1' });
    expect(test).toMatchObject({ eventType: 'webhook_test', status: 'pending' });
    await waitFor('test delivered', async () => (await svc.get(a.webhook.id)).deliveries.delivered === 1, 10_000);
    await svc.dispatchOnce();
    expect((await svc.get(b.webhook.id)).deliveries).toEqual({ pending: 0, delivered: 0, failed: 0, abandoned: 0 });
    expect(JSON.parse(receiver.received[0]!.body.toString())).toMatchObject({ type: 'webhook_test', webhook_id: a.webhook.id, delivery_id: test.id });

    await svc.update(b.webhook.id, { enabled: false });
    await expect(svc.test(b.webhook.id, { requestId: null })).rejects.toMatchObject({ kind: 'failed_precondition', field: 'enabled' });
    await emit('camera_created');
    await sleep(200);
    await svc.update(b.webhook.id, { enabled: true });
    await emit('camera_updated');
    await waitFor('b got the event after its re-enabling', async () => (await svc.get(b.webhook.id)).deliveries.delivered === 1, 10_000);
    expect((await svc.deliveries(b.webhook.id, { limit: 10 })).map((d) => d.eventType)).toEqual(['camera_updated']);
  });

  it('never returns the secret after creation; a generated one is 32 random bytes', async () => {
    const svc = service();
    const created = await svc.create({ url: receiver.url() });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const shown = JSON.stringify([await svc.list(), await svc.get(created.webhook.id), await svc.update(created.webhook.id, { secret: 'whsec_given-by-the-admin' })]);
    expect(shown).not.toContain(created.secret);
    expect(shown).not.toContain('whsec_given-by-the-admin');
  });
});
