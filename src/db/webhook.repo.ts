import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import { prepared } from './prepared.js';
import { toEvent, type EventRow, type NewEvent } from './event.repo.js';
import type { DeliveryStatus, Severity, WebhookDeliveriesTable, WebhooksTable } from './schema.js';
import { redactDeep } from '../shared/redact.js';

/** A subscription as the API shows it: never its secret. */
export interface Webhook {
  id: number;
  name: string;
  url: string;
  /** null = every event type. */
  eventTypes: string[] | null;
  minSeverity: Severity;
  /** null = every event, with a camera or not. */
  cameras: string[] | null;
  enabled: boolean;
  /** Every matching event up to this id has its ledger row. */
  cursorEventId: number;
  createdAtMs: number;
  updatedAtMs: number;
}

export interface WebhookWithSecret extends Webhook {
  secret: string;
}

export interface Delivery {
  id: string;
  webhookId: number;
  eventId: number;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAtMs: number | null;
  lastAttemptAtMs: number | null;
  lastError: string | null;
  responseCode: number | null;
  createdAtMs: number;
  updatedAtMs: number;
  deliveredAtMs: number | null;
}

export interface NewWebhook {
  name: string;
  url: string;
  secret: string;
  eventTypes: string[] | null;
  minSeverity: Severity;
  cameras: string[] | null;
  enabled: boolean;
}

export type WebhookPatch = Partial<NewWebhook>;

const listJson = (v: string[] | null) => (v === null ? null : JSON.stringify(v));
const listFrom = (json: string | null) => (json === null ? null : (JSON.parse(json) as string[]));

function toWebhook(r: Selectable<WebhooksTable>): WebhookWithSecret {
  return {
    id: r.id,
    name: r.name,
    url: r.url,
    secret: r.secret,
    eventTypes: listFrom(r.event_types),
    minSeverity: r.min_severity,
    cameras: listFrom(r.cameras),
    enabled: r.enabled === 1,
    cursorEventId: r.cursor_event_id,
    createdAtMs: r.created_at_ms,
    updatedAtMs: r.updated_at_ms,
  };
}

/** The public view of a subscription: the secret left out here, so no caller can forget to. */
export function withoutSecret(w: WebhookWithSecret): Webhook {
  const { secret: _secret, ...rest } = w;
  return rest;
}

type DeliveryRow = Selectable<WebhookDeliveriesTable> & { event_type: string };

function toDelivery(r: DeliveryRow): Delivery {
  return {
    id: r.id,
    webhookId: r.webhook_id,
    eventId: r.event_id,
    eventType: r.event_type,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAtMs: r.next_attempt_at_ms,
    lastAttemptAtMs: r.last_attempt_at_ms,
    lastError: r.last_error,
    responseCode: r.response_code,
    createdAtMs: r.created_at_ms,
    updatedAtMs: r.updated_at_ms,
    deliveredAtMs: r.delivered_at_ms,
  };
}

async function lastEventId(db: Db): Promise<number> {
  const r = await db.selectFrom('events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
  return Number(r?.id ?? 0);
}

// ---- subscriptions ----

/** A new subscription receives the events emitted after it was created: its cursor starts at the newest event. */
export async function insertWebhook(db: Db, w: NewWebhook, nowMs: number): Promise<WebhookWithSecret> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('webhooks')
      .values({
        name: w.name,
        url: w.url,
        secret: w.secret,
        event_types: listJson(w.eventTypes),
        min_severity: w.minSeverity,
        cameras: listJson(w.cameras),
        enabled: w.enabled ? 1 : 0,
        cursor_event_id: await lastEventId(trx),
        created_at_ms: nowMs,
        updated_at_ms: nowMs,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toWebhook(row);
  });
}

/**
 * Compiled once (`prepared`): the dispatcher lists the enabled subscriptions at every pass, every 5 s
 * with none, and Kysely building the query each time cost more than SQLite answering it (docs/proof.md,
 * issue 17, twenty-third session).
 */
const webhooksQuery = prepared((db, _v: Record<string, never>, which: 'enabled' | 'all') => {
  const q = db.selectFrom('webhooks').selectAll();
  return (which === 'enabled' ? q.where('enabled', '=', 1) : q).orderBy('id');
});

export async function listWebhooks(db: Db, opts: { enabledOnly?: boolean } = {}): Promise<WebhookWithSecret[]> {
  return (await webhooksQuery(db, {}, opts.enabledOnly ? 'enabled' : 'all')).map(toWebhook);
}

export async function getWebhook(db: Db, id: number): Promise<WebhookWithSecret | undefined> {
  const r = await db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toWebhook(r);
}

/**
 * Changes a subscription. Enabling a disabled one moves its cursor to the newest event: what happened
 * while it was disabled is not sent (its deliveries already in the ledger are).
 */
export async function updateWebhook(db: Db, id: number, p: WebhookPatch, nowMs: number): Promise<WebhookWithSecret | undefined> {
  return db.transaction().execute(async (trx) => {
    const before = await trx.selectFrom('webhooks').select('enabled').where('id', '=', id).executeTakeFirst();
    if (!before) return undefined;
    const enabling = p.enabled === true && before.enabled === 0;
    const row = await trx
      .updateTable('webhooks')
      .set({
        updated_at_ms: nowMs,
        ...(p.name !== undefined ? { name: p.name } : {}),
        ...(p.url !== undefined ? { url: p.url } : {}),
        ...(p.secret !== undefined ? { secret: p.secret } : {}),
        ...(p.eventTypes !== undefined ? { event_types: listJson(p.eventTypes) } : {}),
        ...(p.minSeverity !== undefined ? { min_severity: p.minSeverity } : {}),
        ...(p.cameras !== undefined ? { cameras: listJson(p.cameras) } : {}),
        ...(p.enabled !== undefined ? { enabled: p.enabled ? 1 : 0 } : {}),
        ...(enabling ? { cursor_event_id: await lastEventId(trx) } : {}),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toWebhook(row);
  });
}

/** Deletes a subscription and its ledger (ON DELETE CASCADE). */
export async function deleteWebhook(db: Db, id: number): Promise<boolean> {
  const r = await db.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Ledger rows per status, per subscription. */
export async function deliveryCounts(db: Db): Promise<Map<number, Record<DeliveryStatus, number>>> {
  const rows = await db
    .selectFrom('webhook_deliveries')
    .select(['webhook_id', 'status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy(['webhook_id', 'status'])
    .execute();
  const out = new Map<number, Record<DeliveryStatus, number>>();
  for (const r of rows) {
    const counts = out.get(r.webhook_id) ?? { pending: 0, delivered: 0, failed: 0, abandoned: 0 };
    counts[r.status] = Number(r.n);
    out.set(r.webhook_id, counts);
  }
  return out;
}

// ---- the cursor ----

/**
 * Reads up to `batch` events past the subscription's cursor and, in one transaction, writes a pending
 * ledger row (due now) for each that `matches` and moves the cursor past all that were read. A crash
 * before the commit leaves both as they were; after it, both are moved: an event is never skipped and
 * never gets a second row (UNIQUE (webhook_id, event_id) besides). Returns how many events were read.
 */
export async function advanceCursor(
  db: Db,
  webhookId: number,
  o: { batch: number; nowMs: number; matches: (e: EventRow) => boolean; newId: () => string },
): Promise<{ read: number; created: number }> {
  return db.transaction().execute(async (trx) => {
    const hook = await trx.selectFrom('webhooks').select(['cursor_event_id', 'enabled']).where('id', '=', webhookId).executeTakeFirst();
    if (!hook || hook.enabled !== 1) return { read: 0, created: 0 };
    const events = (await trx.selectFrom('events').selectAll().where('id', '>', hook.cursor_event_id).orderBy('id').limit(o.batch).execute()).map(toEvent);
    const last = events[events.length - 1];
    if (!last) return { read: 0, created: 0 };
    const rows = events.filter(o.matches).map((e) => ({
      id: o.newId(),
      webhook_id: webhookId,
      event_id: e.id,
      status: 'pending' as const,
      attempts: 0,
      next_attempt_at_ms: o.nowMs,
      created_at_ms: o.nowMs,
      updated_at_ms: o.nowMs,
    }));
    if (rows.length > 0) {
      await trx.insertInto('webhook_deliveries').values(rows).onConflict((oc) => oc.columns(['webhook_id', 'event_id']).doNothing()).execute();
    }
    await trx.updateTable('webhooks').set({ cursor_event_id: last.id }).where('id', '=', webhookId).execute();
    return { read: events.length, created: rows.length };
  });
}

// ---- deliveries ----

const deliverySelect = (db: Db) =>
  db.selectFrom('webhook_deliveries as d').innerJoin('events as e', 'e.id', 'd.event_id').selectAll('d').select('e.type as event_type');

/** Compiled once per LIMIT (the dispatcher's pass runs it with the same one every time). */
const dueDeliveriesQuery = prepared((db, v: { nowMs: number }, limit: number) =>
  deliverySelect(db)
    .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
    .where('w.enabled', '=', 1)
    .where('d.next_attempt_at_ms', '<=', v.nowMs)
    .orderBy('d.next_attempt_at_ms')
    .orderBy('d.event_id')
    .limit(limit),
);

/** Deliveries due by `nowMs` of enabled subscriptions, the earliest due (then the oldest event) first. */
export async function listDueDeliveries(db: Db, nowMs: number, limit: number): Promise<Delivery[]> {
  return (await dueDeliveriesQuery(db, { nowMs }, limit)).map(toDelivery);
}

/** Compiled once: the dispatcher asks it after every pass. */
const nextDueQuery = prepared((db) =>
  db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
    .where('w.enabled', '=', 1)
    .select((eb) => eb.fn.min('d.next_attempt_at_ms').as('due')),
);

/** When the next delivery of an enabled subscription falls due, if any. */
export async function nextDueMs(db: Db): Promise<number | undefined> {
  const r = (await nextDueQuery(db, {}))[0];
  return r?.due === null || r?.due === undefined ? undefined : Number(r.due);
}

export async function getDelivery(db: Db, webhookId: number, deliveryId: string): Promise<Delivery | undefined> {
  const r = await deliverySelect(db).where('d.webhook_id', '=', webhookId).where('d.id', '=', deliveryId).executeTakeFirst();
  return r && toDelivery(r);
}

/** One page of a subscription's ledger, newest event first; `beforeEventId` is the previous page's last. */
export async function listDeliveries(
  db: Db,
  webhookId: number,
  q: { status?: DeliveryStatus | undefined; beforeEventId?: number | undefined; limit: number },
): Promise<Delivery[]> {
  let query = deliverySelect(db).where('d.webhook_id', '=', webhookId);
  if (q.status !== undefined) query = query.where('d.status', '=', q.status);
  if (q.beforeEventId !== undefined) query = query.where('d.event_id', '<', q.beforeEventId);
  return (await query.orderBy('d.event_id', 'desc').limit(q.limit).execute()).map(toDelivery);
}

export async function getEvent(db: Db, id: number): Promise<EventRow | undefined> {
  const r = await db.selectFrom('events').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toEvent(r);
}

/**
 * Counts an attempt before it is made, and moves the due time to `leaseUntilMs`: an attempt cut short
 * by a crash is counted and tried again once the lease ends. False when the row changed meanwhile
 * (delivered, redelivered, deleted): then nobody sends it.
 */
export async function startAttempt(db: Db, id: string, expectedAttempts: number, nowMs: number, leaseUntilMs: number): Promise<boolean> {
  const r = await db
    .updateTable('webhook_deliveries')
    .set((eb) => ({ attempts: eb('attempts', '+', 1), last_attempt_at_ms: nowMs, next_attempt_at_ms: leaseUntilMs, updated_at_ms: nowMs }))
    .where('id', '=', id)
    .where('attempts', '=', expectedAttempts)
    .where('status', 'in', ['pending', 'failed'])
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** The receiver answered 2xx: final. */
export async function markDelivered(db: Db, id: string, responseCode: number, nowMs: number): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({ status: 'delivered', next_attempt_at_ms: null, last_error: null, response_code: responseCode, delivered_at_ms: nowMs, updated_at_ms: nowMs })
    .where('id', '=', id)
    .execute();
}

/** The attempt failed: `failed` with the next attempt due at `nextAtMs`, or `abandoned` when it is null. */
export async function markFailed(db: Db, id: string, f: { error: string; responseCode: number | null; nextAtMs: number | null }, nowMs: number): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set({ status: f.nextAtMs === null ? 'abandoned' : 'failed', next_attempt_at_ms: f.nextAtMs, last_error: f.error, response_code: f.responseCode, updated_at_ms: nowMs })
    .where('id', '=', id)
    .where('status', 'in', ['pending', 'failed'])
    .execute();
}

/** An attempt Vigil itself stopped (shutdown) is not counted and is due again at once. */
export async function releaseAttempt(db: Db, id: string, nowMs: number): Promise<void> {
  await db
    .updateTable('webhook_deliveries')
    .set((eb) => ({ attempts: eb('attempts', '-', 1), next_attempt_at_ms: nowMs, updated_at_ms: nowMs }))
    .where('id', '=', id)
    .where('status', 'in', ['pending', 'failed'])
    .where('attempts', '>', 0)
    .execute();
}

/**
 * Redelivery on demand: the same delivery (same id, so a receiver that already processed it can tell)
 * becomes pending with a fresh attempt budget, due now.
 */
export async function requeueDelivery(db: Db, webhookId: number, deliveryId: string, nowMs: number): Promise<Delivery | undefined> {
  // The row as requeued, read in the same transaction: read after it, a dispatcher that picked it up
  // meanwhile (it is due at once) would already have counted an attempt.
  return db.transaction().execute(async (trx) => {
    const r = await trx
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', attempts: 0, next_attempt_at_ms: nowMs, delivered_at_ms: null, updated_at_ms: nowMs })
      .where('webhook_id', '=', webhookId)
      .where('id', '=', deliveryId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1 ? getDelivery(trx, webhookId, deliveryId) : undefined;
  });
}

/**
 * A test event for one subscription: the event and its one ledger row in one transaction. The
 * dispatcher never fans `webhook_test` events out, so no other subscription receives it.
 */
export async function insertTestDelivery(db: Db, webhookId: number, event: NewEvent, deliveryId: string, nowMs: number): Promise<EventRow> {
  return db.transaction().execute(async (trx) => {
    const payload = redactDeep(event.payload);
    const { id } = await trx
      .insertInto('events')
      .values({ ts_ms: event.tsMs, type: event.type, severity: event.severity, camera_id: event.cameraId, payload: JSON.stringify(payload), request_id: event.requestId })
      .returning('id')
      .executeTakeFirstOrThrow();
    await trx
      .insertInto('webhook_deliveries')
      .values({ id: deliveryId, webhook_id: webhookId, event_id: id, status: 'pending', attempts: 0, next_attempt_at_ms: nowMs, created_at_ms: nowMs, updated_at_ms: nowMs })
      .execute();
    return { ...event, payload, id };
  });
}
