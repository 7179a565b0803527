import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INITIAL_PASSWORD_FILE } from '../../src/app.js';
import { verifySignature } from '../../src/webhooks/signature.js';
import { startChildVigil, type ChildVigil } from '../support/child-vigil.js';
import { removeDir, startVigil, tempDir, waitFor, type TestVigil } from '../support/harness.js';
import { WebhookReceiver, type Received } from '../support/webhook-receiver.js';

interface DeliveryOut {
  id: string;
  event_id: number;
  event_type: string;
  status: string;
  attempts: number;
  last_error: string | null;
  response_code: number | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
}

const json = async <T>(res: Response | Promise<Response>): Promise<T> => (await (await res).json()) as T;
const post = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const eventIdOf = (r: Received) => (JSON.parse(r.body.toString('utf8')) as { id: number }).id;

/** Every request the receiver got, grouped by the event it carried. */
function byEvent(received: Received[]): Map<number, Received[]> {
  const out = new Map<number, Received[]>();
  for (const r of received) out.set(eventIdOf(r), [...(out.get(eventIdOf(r)) ?? []), r]);
  return out;
}

describe('webhooks against a real receiver', () => {
  let vigil: TestVigil;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    // Each delivery: first a 500, then a hang past the 1 s timeout, then a 200.
    receiver = await WebhookReceiver.start(({ seen }) => (seen === 0 ? 500 : seen === 1 ? 'hang' : 200));
    vigil = await startVigil({ webhooks: { allow_private_networks: ['127.0.0.0/8'], timeout_seconds: 1, backoff_initial_ms: 200, backoff_max_ms: 1000 } });
  });
  afterAll(async () => {
    await vigil?.app.stop();
    await receiver?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('a receiver that fails, times out, then succeeds gets each event delivered once, signed, and the ledger says so', async () => {
    const created = await vigil.api('/webhooks', post({ name: 'ops', url: receiver.url(), event_types: ['camera_created', 'camera_updated'] }));
    expect(created.status).toBe(201);
    const hook = (await created.json()) as { id: number; secret: string; event_types: string[]; cameras: string };
    expect(hook.secret).toMatch(/^whsec_/);
    expect(hook).toMatchObject({ event_types: ['camera_created', 'camera_updated'], cameras: 'all', enabled: true });

    expect((await vigil.api('/cameras', post({ id: 'cam1', main_url: 'rtsp://127.0.0.1:9/a', enabled: false }))).status).toBe(201);
    expect((await vigil.api('/cameras/cam1', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Door' }) })).status).toBe(200);
    expect((await vigil.api('/cameras', post({ id: 'cam2', main_url: 'rtsp://127.0.0.1:9/b', enabled: false }))).status).toBe(201);

    const ledger = await waitFor('3 deliveries delivered', async () => {
      const { deliveries } = await json<{ deliveries: DeliveryOut[] }>(vigil.api(`/webhooks/${hook.id}/deliveries`));
      return deliveries.length === 3 && deliveries.every((d) => d.status === 'delivered') ? deliveries : undefined;
    }, 30_000, 200);
    const { events } = await json<{ events: Array<{ id: number; type: string; camera_id: string }> }>(vigil.api('/events?limit=50'));
    const wanted = events.filter((e) => e.type === 'camera_created' || e.type === 'camera_updated');
    expect(ledger.map((d) => d.event_id).sort()).toEqual(wanted.map((e) => e.id).sort());
    for (const d of ledger) {
      expect(d).toMatchObject({ attempts: 3, response_code: 200, last_error: null, next_attempt_at: null });
      expect(d.delivered_at).not.toBeNull();
    }

    const groups = byEvent(receiver.received);
    expect([...groups.keys()].sort()).toEqual(wanted.map((e) => e.id).sort());
    const now = Math.floor(Date.now() / 1000);
    for (const [eventId, requests] of groups) {
      const row = ledger.find((d) => d.event_id === eventId)!;
      // One delivery per event: three attempts (500, timeout, 200) under the ledger's delivery id, one success.
      expect(requests.map((r) => r.answered)).toEqual([500, 0, 200]);
      expect(new Set(requests.map((r) => r.headers['x-vigil-delivery']))).toEqual(new Set([row.id]));
      expect(requests.every((r) => r.headers['idempotency-key'] === row.id)).toBe(true);
      for (const r of requests) {
        expect(verifySignature(r.headers['x-vigil-signature'] as string, r.body, hook.secret, now)).toMatchObject({ ok: true });
        expect(r.headers['content-type']).toBe('application/json');
      }
      const body = JSON.parse(requests[2]!.body.toString()) as Record<string, unknown>;
      const event = wanted.find((e) => e.id === eventId)!;
      expect(body).toMatchObject({ id: eventId, type: event.type, camera_id: event.camera_id, delivery_id: row.id, webhook_id: hook.id, severity: 'info' });
    }

    // The secret is shown once: not in the API afterwards, the audit trail or the log.
    const afterwards = JSON.stringify([await json(vigil.api('/webhooks')), await json(vigil.api(`/webhooks/${hook.id}`)), await json(vigil.api('/audit?action=webhook.create'))]);
    expect(afterwards).toContain(receiver.url());
    expect(afterwards).not.toContain(hook.secret);
    expect(vigil.logs()).not.toContain(hook.secret);
  });

  it('the ledger pages and filters by status; a redelivery sends the same delivery again; the test route reaches one subscription', async () => {
    receiver.behaviour = () => 200;
    const { webhooks } = await json<{ webhooks: Array<{ id: number; deliveries: Record<string, number> }> }>(vigil.api('/webhooks'));
    const hook = webhooks[0]!;
    expect(hook.deliveries).toEqual({ pending: 0, delivered: 3, failed: 0, abandoned: 0 });
    const page1 = await json<{ deliveries: DeliveryOut[]; next_cursor: string | null }>(vigil.api(`/webhooks/${hook.id}/deliveries?limit=2`));
    expect(page1.deliveries).toHaveLength(2);
    const page2 = await json<{ deliveries: DeliveryOut[]; next_cursor: string | null }>(vigil.api(`/webhooks/${hook.id}/deliveries?limit=2&cursor=${page1.next_cursor}`));
    expect(page2.deliveries).toHaveLength(1);
    expect(page2.next_cursor).toBeNull();
    expect((await json<{ deliveries: DeliveryOut[] }>(vigil.api(`/webhooks/${hook.id}/deliveries?status=abandoned`))).deliveries).toEqual([]);
    const bad = await vigil.api(`/webhooks/${hook.id}/deliveries?status=lost`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { field: string }).field).toBe('status');

    const target = page2.deliveries[0]!;
    const before = receiver.for(target.id).length;
    const redo = await vigil.api(`/webhooks/${hook.id}/deliveries/${target.id}/redeliver`, { method: 'POST' });
    expect(redo.status).toBe(202);
    await waitFor('redelivered', () => receiver.for(target.id).length === before + 1, 10_000);
    const missing = await vigil.api(`/webhooks/${hook.id}/deliveries/00000000-0000-4000-8000-000000000000/redeliver`, { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { field: string }).field).toBe('delivery_id');

    const other = await json<{ id: number }>(vigil.api('/webhooks', post({ url: receiver.url('/other') })));
    const test = await vigil.api(`/webhooks/${hook.id}/test`, { method: 'POST' });
    expect(test.status).toBe(202);
    const row = (await test.json()) as DeliveryOut;
    expect(row.event_type).toBe('webhook_test');
    await waitFor('test delivered', () => receiver.for(row.id).some((r) => r.answered === 200), 10_000);
    expect((await json<{ deliveries: DeliveryOut[] }>(vigil.api(`/webhooks/${other.id}/deliveries`))).deliveries.filter((d) => d.event_type === 'webhook_test')).toEqual([]);
    const audit = await json<{ entries: Array<{ action: string; target: string }> }>(vigil.api('/audit?action=webhook.test'));
    expect(audit.entries[0]?.target).toBe(`webhook:${hook.id}`);
  });

  it('refuses private, link-local and loopback receivers outside the allowance with a 400 naming url; only admins manage webhooks', async () => {
    for (const url of ['http://10.1.2.3/hook', 'http://169.254.169.254/latest/meta-data', 'http://[::1]:8080/hook', 'http://192.168.1.10/hook', 'http://[::ffff:10.0.0.1]/x', 'gopher://127.0.0.1/x']) {
      const res = await vigil.api('/webhooks', post({ url }));
      expect(res.status, url).toBe(400);
      const body = (await res.json()) as { field: string; message: string };
      expect(body.field, url).toBe('url');
    }
    const { key } = await vigil.app.auth.createKey({ name: 'ops', role: 'operator' }, null);
    const res = await fetch(`${vigil.app.url}/api/v1/webhooks`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(403);
  });
});

describe('webhooks with the default SSRF rule', () => {
  it('a receiver on a private or loopback address is refused, by address or by a name that resolves there', async () => {
    const vigil = await startVigil();
    try {
      for (const url of ['http://127.0.0.1:9/hook', 'http://localhost:9/hook', 'http://10.0.0.5/hook', 'http://100.64.1.1/hook', 'http://0.0.0.0:80/']) {
        const res = await vigil.api('/webhooks', post({ url }));
        expect(res.status, url).toBe(400);
        const body = (await res.json()) as { field: string; message: string };
        expect(body.field, url).toBe('url');
        expect(body.message, url).toMatch(/allow_private_networks/);
      }
      expect((await json<{ webhooks: unknown[] }>(vigil.api('/webhooks'))).webhooks).toEqual([]);
    } finally {
      await vigil.app.stop();
      await removeDir(vigil.dataDir);
    }
  });
});

/** Signs in to a child Vigil as its generated first admin and makes an admin API key. */
async function adminKey(child: ChildVigil, dataDir: string): Promise<Record<string, string>> {
  const password = (await readFile(join(dataDir, INITIAL_PASSWORD_FILE), 'utf8')).trim();
  const login = await fetch(`${child.url}/api/v1/auth/login`, post({ username: 'admin', password }));
  expect(login.status).toBe(200);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const res = await fetch(`${child.url}/api/v1/api-keys`, { ...post({ name: 'test', role: 'admin' }), headers: { 'content-type': 'application/json', cookie, origin: child.url } });
  expect(res.status).toBe(201);
  return { authorization: `Bearer ${((await res.json()) as { key: string }).key}` };
}

describe('Vigil killed with SIGKILL mid-retry', () => {
  it('delivers every pending delivery after the restart, each event under one delivery id, never a second success', async () => {
    const dataDir = await tempDir();
    // Failing, then hanging, until Vigil is killed; then accepting.
    const receiver = await WebhookReceiver.start(({ seen }) => (seen === 0 ? 503 : 'hang'));
    const config = { webhooks: { allow_private_networks: ['127.0.0.0/8'], timeout_seconds: 3, backoff_initial_ms: 300, backoff_max_ms: 600, max_attempts: 20 } };
    const children: ChildVigil[] = [];
    try {
      const first = await startChildVigil(dataDir, config);
      children.push(first);
      const auth = await adminKey(first, dataDir);
      const api = (url: string, path: string, init: RequestInit = {}) =>
        fetch(`${url}/api/v1${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string> | undefined) } });
      const hook = await json<{ id: number; secret: string }>(api(first.url, '/webhooks', post({ url: receiver.url(), event_types: ['camera_created'] })));
      for (const id of ['cam1', 'cam2', 'cam3']) expect((await api(first.url, '/cameras', post({ id, main_url: `rtsp://127.0.0.1:9/${id}`, enabled: false }))).status).toBe(201);

      // Mid-retry: every delivery failed once and its second attempt hangs in the receiver.
      await waitFor('every delivery retried', () => byEvent(receiver.received).size === 3 && [...byEvent(receiver.received).values()].every((r) => r.length >= 2), 20_000, 50);
      await first.kill9();
      const ledger = () => {
        const raw = new Database(join(dataDir, 'vigil.db'), { readonly: true });
        try {
          return raw.prepare('SELECT id, event_id, status, attempts FROM webhook_deliveries ORDER BY event_id').all() as Array<{ id: string; event_id: number; status: string; attempts: number }>;
        } finally {
          raw.close();
        }
      };
      const killed = ledger();
      expect(killed).toHaveLength(3);
      expect(killed.every((d) => d.status !== 'delivered' && d.attempts >= 2)).toBe(true);

      receiver.behaviour = () => 200;
      const second = await startChildVigil(dataDir, config);
      children.push(second);
      await waitFor('delivered after the restart', () => ledger().every((d) => d.status === 'delivered'), 30_000, 200);
      const after = ledger();
      // The same three rows: nothing lost, nothing made twice.
      expect(after.map((d) => d.id)).toEqual(killed.map((d) => d.id));
      for (const [eventId, requests] of byEvent(receiver.received)) {
        const row = after.find((d) => d.event_id === eventId)!;
        expect(new Set(requests.map((r) => r.headers['x-vigil-delivery']))).toEqual(new Set([row.id]));
        expect(requests.filter((r) => r.answered === 200)).toHaveLength(1);
        for (const r of requests) expect(verifySignature(r.headers['x-vigil-signature'] as string, r.body, hook.secret, Math.floor(Date.now() / 1000)).ok).toBe(true);
      }
      // And a graceful stop with nothing pending sends nothing more.
      const count = receiver.received.length;
      expect(await second.term()).toBe(0);
      expect(receiver.received.length).toBe(count);
    } finally {
      for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) await c.kill9();
      await receiver.stop();
      await removeDir(dataDir);
    }
  });
});
