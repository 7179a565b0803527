import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { WebhooksConfig } from '../config/webhooks-config.js';
import type { Db } from '../db/connection.js';
import type { EventRow } from '../db/event.repo.js';
import type { Severity } from '../db/schema.js';
import {
  advanceCursor,
  getEvent,
  getWebhook,
  listDueDeliveries,
  listWebhooks,
  markDelivered,
  markFailed,
  nextDueMs,
  releaseAttempt,
  startAttempt,
  type Delivery,
  type Webhook,
} from '../db/webhook.repo.js';
import type { EventLog } from '../events/event-log.js';
import type { Clock } from '../shared/clock.js';
import { errorMessage } from '../shared/errors.js';
import { redactUrl } from '../shared/redact.js';
import { WakeLoop } from '../shared/wake-loop.js';
import { VIGIL_VERSION } from '../shared/version.js';
import { parseReceiverUrl, resolveTarget, type AddressPolicy, type Resolver } from './address-policy.js';
import { retryDelayMs } from './retry.js';
import { signatureHeader } from './signature.js';
import { deliveryBody } from './webhook-body.js';
import type { WebhookSender } from './webhook-http.js';

/** The event `POST /webhooks/:id/test` stores: delivered to that one subscription only, never fanned out. */
export const TEST_EVENT = 'webhook_test';
/** Attempts in flight at once, over all subscriptions … */
export const MAX_IN_FLIGHT = 16;
/** … and to one subscription's receiver. */
export const MAX_IN_FLIGHT_PER_WEBHOOK = 4;
/** Events read past a cursor per transaction. */
const CURSOR_BATCH = 500;
/** The loop looks at the log at least this often (events another process stored publish nothing here). */
const POLL_MS = 5000;
/** What of a failed answer's body the ledger keeps. */
const ERROR_MAX_CHARS = 500;

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** Whether a subscription wants an event: its types, its minimum severity, its cameras. */
export function wants(hook: Webhook, e: EventRow): boolean {
  if (e.type === TEST_EVENT) return false;
  if (hook.eventTypes !== null && !hook.eventTypes.includes(e.type)) return false;
  if (RANK[e.severity] < RANK[hook.minSeverity]) return false;
  if (hook.cameras !== null && (e.cameraId === null || !hook.cameras.includes(e.cameraId))) return false;
  return true;
}

export interface DispatcherDeps {
  db: Db;
  clock: Clock;
  events: EventLog;
  log: Logger;
  config: WebhooksConfig;
  policy: AddressPolicy;
  resolve: Resolver;
  send: WebhookSender;
}

/**
 * Drives deliveries from the event log. One loop, woken by every event published in this process and
 * by a timer: (1) for each enabled subscription, events past its cursor become ledger rows in the same
 * transaction that moves the cursor (`advanceCursor`), so nothing is lost or doubled across restarts;
 * (2) due ledger rows are attempted, at most MAX_IN_FLIGHT at once and MAX_IN_FLIGHT_PER_WEBHOOK per
 * receiver, the earliest due first. Deliveries of one subscription are concurrent, not in order: one
 * failing event would otherwise hold back every later one for its whole retry budget (over an hour by
 * default), and retries put events out of order anyway — receivers order by the event `id` and drop
 * repeats by the delivery id. Each attempt is counted before it is made and leases the row for the
 * timeout plus its backoff, so an attempt cut short by a crash is made again after the restart, under
 * the same delivery id (at least once).
 */
export class WebhookDispatcher {
  private readonly abort = new AbortController();
  private readonly loop = new WakeLoop({
    step: () => this.runOnce(),
    untilNextMs: () => this.untilNextDueMs(),
    onError: (err) => this.d.log.error({ err }, 'webhook dispatch failed'),
    signal: this.abort.signal,
  });
  private unsubscribe: (() => void) | undefined;
  /** Delivery id → the subscription it belongs to, while its attempt runs. */
  private readonly running = new Map<string, { webhookId: number; job: Promise<void> }>();
  /** The last pass left due deliveries waiting for a slot: the loop then waits for an attempt to end, not for a due time. */
  private saturated = false;

  constructor(private readonly d: DispatcherDeps) {}

  start(): void {
    this.unsubscribe ??= this.d.events.subscribe(() => this.wake());
    this.loop.start();
  }

  /** Stops the loop and cuts attempts in flight short; they are not counted and are due again at the next start. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.unsubscribe?.();
    await this.loop.ended();
    await Promise.all([...this.running.values()].map((r) => r.job));
  }

  wake(): void {
    this.loop.wake();
  }

  isInFlight(deliveryId: string): boolean {
    return this.running.has(deliveryId);
  }

  /** One pass: new events into the ledger, then due deliveries started. */
  async runOnce(): Promise<void> {
    await this.fanOut();
    await this.startDue();
  }

  private async fanOut(): Promise<void> {
    for (const hook of await listWebhooks(this.d.db, { enabledOnly: true })) {
      for (;;) {
        if (this.abort.signal.aborted) return;
        const { read } = await advanceCursor(this.d.db, hook.id, {
          batch: CURSOR_BATCH,
          nowMs: this.d.clock.nowMs(),
          matches: (e) => wants(hook, e),
          newId: randomUUID,
        });
        if (read < CURSOR_BATCH) break;
      }
    }
  }

  private async startDue(): Promise<void> {
    this.saturated = this.running.size >= MAX_IN_FLIGHT;
    if (this.abort.signal.aborted || this.saturated) return;
    const due = await listDueDeliveries(this.d.db, this.d.clock.nowMs(), MAX_IN_FLIGHT * 4);
    for (const delivery of due) {
      if (this.running.has(delivery.id)) continue;
      if (this.running.size >= MAX_IN_FLIGHT || this.inFlightFor(delivery.webhookId) >= MAX_IN_FLIGHT_PER_WEBHOOK) {
        this.saturated = true;
        continue;
      }
      const job = this.attempt(delivery)
        .catch((err) => this.d.log.error({ err, deliveryId: delivery.id }, 'webhook attempt failed unexpectedly'))
        .finally(() => {
          this.running.delete(delivery.id);
          this.wake();
        });
      this.running.set(delivery.id, { webhookId: delivery.webhookId, job });
    }
  }

  private inFlightFor(webhookId: number): number {
    let n = 0;
    for (const r of this.running.values()) if (r.webhookId === webhookId) n++;
    return n;
  }

  /**
   * How long the loop may sleep: until the next delivery is due, at most POLL_MS; while due deliveries
   * wait for a slot, until an attempt ends (its end wakes the loop), rather than polling the catalog.
   */
  private async untilNextDueMs(): Promise<number> {
    if (this.saturated) return POLL_MS;
    const due = await nextDueMs(this.d.db).catch(() => undefined);
    if (due === undefined) return POLL_MS;
    return Math.min(POLL_MS, Math.max(10, due - this.d.clock.nowMs() + 5));
  }

  private async attempt(delivery: Delivery): Promise<void> {
    const { db, clock, config } = this.d;
    const hook = await getWebhook(db, delivery.webhookId);
    if (!hook?.enabled) return;
    const attempt = delivery.attempts + 1;
    const timeoutMs = config.timeoutSeconds * 1000;
    const startedMs = clock.nowMs();
    if (!(await startAttempt(db, delivery.id, delivery.attempts, startedMs, startedMs + timeoutMs + retryDelayMs(attempt, config)))) return;
    const event = await getEvent(db, delivery.eventId);
    if (!event) {
      await markFailed(db, delivery.id, { error: `event ${delivery.eventId} is no longer in the log`, responseCode: null, nextAtMs: null }, clock.nowMs());
      return;
    }
    const body = deliveryBody(event, delivery.id, hook.id);
    const headers = {
      'content-type': 'application/json',
      'user-agent': `Vigil-Webhooks/${VIGIL_VERSION}`,
      'x-vigil-signature': signatureHeader(hook.secret, Math.floor(clock.nowMs() / 1000), body),
      'x-vigil-delivery': delivery.id,
      'idempotency-key': delivery.id,
      'x-vigil-event': event.type,
      'x-vigil-attempt': String(attempt),
    };
    const where = { webhookId: hook.id, deliveryId: delivery.id, eventId: event.id, attempt };
    try {
      // Checked again at every attempt: the name may resolve elsewhere now than when it was saved.
      const target = await resolveTarget(parseReceiverUrl(hook.url), this.d.policy, this.d.resolve);
      const answer = await this.d.send(target, body, headers, { timeoutMs, signal: this.abort.signal });
      if (answer.status >= 200 && answer.status < 300) {
        await markDelivered(db, delivery.id, answer.status, clock.nowMs());
        this.d.log.debug({ ...where, status: answer.status, ms: clock.nowMs() - startedMs }, 'webhook delivered');
        return;
      }
      const redirect = answer.status >= 300 && answer.status < 400 ? ' (redirects are not followed)' : '';
      const said = answer.bodyStart.trim() ? `: ${answer.bodyStart.trim()}` : '';
      await this.failed(delivery.id, attempt, `HTTP ${answer.status}${redirect}${said}`, answer.status, where);
    } catch (err) {
      if (this.abort.signal.aborted) {
        await releaseAttempt(db, delivery.id, clock.nowMs());
        return;
      }
      await this.failed(delivery.id, attempt, errorMessage(err), null, where);
    }
  }

  private async failed(id: string, attempt: number, error: string, responseCode: number | null, where: Record<string, unknown>): Promise<void> {
    const { clock, config } = this.d;
    const nextAtMs = attempt >= config.maxAttempts ? null : clock.nowMs() + retryDelayMs(attempt, config);
    // Defence in depth: an error quoting a URL with credentials never puts them in the ledger or the log.
    const text = redactUrl(error).slice(0, ERROR_MAX_CHARS);
    await markFailed(this.d.db, id, { error: text, responseCode, nextAtMs }, clock.nowMs());
    if (nextAtMs === null) this.d.log.warn({ ...where, error: text }, 'webhook delivery abandoned');
    else this.d.log.info({ ...where, error: text, retryInMs: nextAtMs - clock.nowMs() }, 'webhook attempt failed');
  }
}
