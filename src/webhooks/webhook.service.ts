import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { WebhooksConfig } from '../config/webhooks-config.js';
import type { Db } from '../db/connection.js';
import type { DeliveryStatus, Severity } from '../db/schema.js';
import * as repo from '../db/webhook.repo.js';
import type { Delivery, Webhook } from '../db/webhook.repo.js';
import type { EventLog } from '../events/event-log.js';
import type { Actor } from '../shared/actor.js';
import type { Clock } from '../shared/clock.js';
import { notFound, VigilError } from '../shared/errors.js';
import { AddressPolicy, parseReceiverUrl, resolveTarget, systemResolver, type Resolver } from './address-policy.js';
import { TEST_EVENT, WebhookDispatcher } from './webhook-dispatcher.js';
import { postWebhook, type WebhookSender } from './webhook-http.js';

export interface WebhookServiceDeps {
  db: Db;
  clock: Clock;
  events: EventLog;
  log: Logger;
  config: WebhooksConfig;
  /** DNS; tests replace it. */
  resolve?: Resolver;
  /** The HTTP attempt; tests replace it. */
  send?: WebhookSender;
}

export interface WebhookInput {
  name?: string | undefined;
  url: string;
  secret?: string | undefined;
  /** Omitted or 'all': every type. */
  eventTypes?: 'all' | string[] | undefined;
  minSeverity?: Severity | undefined;
  cameras?: 'all' | string[] | undefined;
  enabled?: boolean | undefined;
}

export type WebhookChange = Partial<Omit<WebhookInput, 'url'>> & { url?: string | undefined };

export type WebhookWithCounts = Webhook & { deliveries: Record<DeliveryStatus, number> };

const NO_DELIVERIES: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, failed: 0, abandoned: 0 };

/** A generated signing secret: 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

const listOrNull = (v: 'all' | string[] | undefined) => (v === undefined || v === 'all' ? null : [...new Set(v)].sort());

/**
 * Webhook subscriptions (admin-managed) and their delivery ledger; starts and stops the dispatcher that
 * drives deliveries from the event log. A receiver's URL is checked against the SSRF rule when it is
 * saved (a clear 400 naming `url`) and again at every attempt. The secret leaves Vigil only in the
 * answer that created it (and, as an HMAC, in every signature).
 */
export class WebhookService {
  readonly policy: AddressPolicy;
  private readonly dispatcher: WebhookDispatcher;
  private readonly resolve: Resolver;

  constructor(private readonly d: WebhookServiceDeps) {
    this.policy = new AddressPolicy(d.config.allowPrivateNetworks);
    this.resolve = d.resolve ?? systemResolver;
    this.dispatcher = new WebhookDispatcher({
      db: d.db,
      clock: d.clock,
      events: d.events,
      log: d.log,
      config: d.config,
      policy: this.policy,
      resolve: this.resolve,
      send: d.send ?? postWebhook,
    });
  }

  start(): void {
    this.dispatcher.start();
  }

  stop(): Promise<void> {
    return this.dispatcher.stop();
  }

  /** One dispatch pass now (tests and benchmarks; the loop does this by itself). */
  dispatchOnce(): Promise<void> {
    return this.dispatcher.runOnce();
  }

  async list(): Promise<WebhookWithCounts[]> {
    const counts = await repo.deliveryCounts(this.d.db);
    return (await repo.listWebhooks(this.d.db)).map((w) => ({ ...repo.withoutSecret(w), deliveries: counts.get(w.id) ?? { ...NO_DELIVERIES } }));
  }

  async get(id: number): Promise<WebhookWithCounts> {
    const w = await repo.getWebhook(this.d.db, id);
    if (!w) throw notFound(`webhook ${id} not found`, 'id');
    const counts = (await repo.deliveryCounts(this.d.db)).get(id) ?? { ...NO_DELIVERIES };
    return { ...repo.withoutSecret(w), deliveries: counts };
  }

  /** Creates a subscription; the secret (generated unless given) is returned this once. */
  async create(input: WebhookInput): Promise<{ webhook: WebhookWithCounts; secret: string }> {
    const url = await this.checkUrl(input.url);
    const secret = input.secret ?? newWebhookSecret();
    const row = await repo.insertWebhook(
      this.d.db,
      {
        name: input.name ?? url.host,
        url: url.href,
        secret,
        eventTypes: listOrNull(input.eventTypes),
        minSeverity: input.minSeverity ?? 'info',
        cameras: listOrNull(input.cameras),
        enabled: input.enabled ?? true,
      },
      this.d.clock.nowMs(),
    );
    return { webhook: { ...repo.withoutSecret(row), deliveries: { ...NO_DELIVERIES } }, secret };
  }

  async update(id: number, change: WebhookChange): Promise<WebhookWithCounts> {
    if (!(await repo.getWebhook(this.d.db, id))) throw notFound(`webhook ${id} not found`, 'id');
    const url = change.url === undefined ? undefined : (await this.checkUrl(change.url)).href;
    const row = await repo.updateWebhook(
      this.d.db,
      id,
      {
        ...(change.name !== undefined ? { name: change.name } : {}),
        ...(url !== undefined ? { url } : {}),
        ...(change.secret !== undefined ? { secret: change.secret } : {}),
        ...(change.eventTypes !== undefined ? { eventTypes: listOrNull(change.eventTypes) } : {}),
        ...(change.minSeverity !== undefined ? { minSeverity: change.minSeverity } : {}),
        ...(change.cameras !== undefined ? { cameras: listOrNull(change.cameras) } : {}),
        ...(change.enabled !== undefined ? { enabled: change.enabled } : {}),
      },
      this.d.clock.nowMs(),
    );
    if (!row) throw notFound(`webhook ${id} not found`, 'id');
    // Pending deliveries of a subscription just enabled are due.
    this.dispatcher.wake();
    return this.get(id);
  }

  async delete(id: number): Promise<void> {
    if (!(await repo.deleteWebhook(this.d.db, id))) throw notFound(`webhook ${id} not found`, 'id');
  }

  /** One page of the ledger, newest event first. */
  async deliveries(id: number, q: { status?: DeliveryStatus | undefined; beforeEventId?: number | undefined; limit: number }): Promise<Delivery[]> {
    if (!(await repo.getWebhook(this.d.db, id))) throw notFound(`webhook ${id} not found`, 'id');
    return repo.listDeliveries(this.d.db, id, q);
  }

  /** Sends a delivery again (same delivery id), whatever its status, with a fresh attempt budget. */
  async redeliver(id: number, deliveryId: string): Promise<Delivery> {
    if (!(await repo.getWebhook(this.d.db, id))) throw notFound(`webhook ${id} not found`, 'id');
    if (!(await repo.getDelivery(this.d.db, id, deliveryId))) throw notFound(`delivery ${deliveryId} of webhook ${id} not found`, 'delivery_id');
    if (this.dispatcher.isInFlight(deliveryId)) {
      throw new VigilError('conflict', `delivery ${deliveryId} is being attempted right now; ask again once it ends`, { field: 'delivery_id' });
    }
    const requeued = await repo.requeueDelivery(this.d.db, id, deliveryId, this.d.clock.nowMs());
    if (!requeued) throw notFound(`delivery ${deliveryId} of webhook ${id} not found`, 'delivery_id');
    this.dispatcher.wake();
    return requeued;
  }

  /** Stores a `webhook_test` event with a delivery to this subscription only, due now. */
  async test(id: number, actor: Actor): Promise<Delivery> {
    const hook = await repo.getWebhook(this.d.db, id);
    if (!hook) throw notFound(`webhook ${id} not found`, 'id');
    if (!hook.enabled) throw new VigilError('failed_precondition', `webhook ${id} is disabled: enable it to send a test`, { field: 'enabled' });
    const event = this.d.events.build({
      type: TEST_EVENT,
      requestId: actor.requestId,
      payload: { webhook_id: id, message: 'A test delivery from Vigil: the signature, the body and the headers are those of every delivery.' },
    });
    const deliveryId = randomUUID();
    const stored = await repo.insertTestDelivery(this.d.db, id, event, deliveryId, this.d.clock.nowMs());
    // Logged and published like any event; publishing wakes the dispatcher.
    this.d.events.published(stored);
    return (await repo.getDelivery(this.d.db, id, deliveryId)) as Delivery;
  }

  private async checkUrl(text: string): Promise<URL> {
    const url = parseReceiverUrl(text);
    await resolveTarget(url, this.policy, this.resolve);
    return url;
  }
}
