import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from '@sinclair/typebox';
import type { Delivery } from '../../db/webhook.repo.js';
import { toIso, toIsoOrNull } from '../../shared/time.js';
import type { WebhookChange, WebhookService, WebhookWithCounts } from '../../webhooks/webhook.service.js';
import { NumericIdParams } from '../schemas/auth.schemas.js';
import { ErrorRef } from '../schemas/common.js';
import { NoQuery } from '../schemas/exports.schemas.js';
import { DeliveryOut, DeliveryParams, DeliveryQuery, WebhookCreate, WebhookCreated, WebhookOut, WebhookPatch } from '../schemas/webhooks.schemas.js';

export const webhookOut = (w: WebhookWithCounts): WebhookOut => ({
  id: w.id,
  name: w.name,
  url: w.url,
  event_types: w.eventTypes ?? 'all',
  min_severity: w.minSeverity,
  cameras: w.cameras ?? 'all',
  enabled: w.enabled,
  created_at: toIso(w.createdAtMs),
  updated_at: toIso(w.updatedAtMs),
  deliveries: w.deliveries,
});

export const deliveryOut = (d: Delivery): DeliveryOut => ({
  id: d.id,
  webhook_id: d.webhookId,
  event_id: d.eventId,
  event_type: d.eventType,
  status: d.status,
  attempts: d.attempts,
  next_attempt_at: toIsoOrNull(d.nextAttemptAtMs),
  last_attempt_at: toIsoOrNull(d.lastAttemptAtMs),
  last_error: d.lastError,
  response_code: d.responseCode,
  created_at: toIso(d.createdAtMs),
  updated_at: toIso(d.updatedAtMs),
  delivered_at: toIsoOrNull(d.deliveredAtMs),
});

const DEFAULT_PAGE = 100;

/**
 * Webhook subscriptions and their delivery ledger: admins scoped to every camera only (a subscription
 * receives events of every camera it names, so a camera-scoped admin could widen what it sees).
 */
export const webhookRoutes: FastifyPluginAsyncTypebox<{ webhooks: WebhookService }> = async (app, { webhooks }) => {
  const manage = { cap: 'webhooks.manage', scope: 'all-cameras' } as const;
  const tags = ['webhooks'];

  app.get('/webhooks', {
    config: { access: manage },
    schema: { tags, summary: 'List webhook subscriptions (never their secrets).', response: { 200: Type.Object({ webhooks: Type.Array(WebhookOut) }), 401: ErrorRef, 403: ErrorRef } },
  }, async () => ({ webhooks: (await webhooks.list()).map(webhookOut) }));

  app.post('/webhooks', {
    config: { access: manage, audit: 'webhook.create' },
    schema: {
      querystring: NoQuery,
      tags,
      summary: 'Subscribe a receiver to events (types, minimum severity, cameras); it gets the events emitted from now on. The signing secret (generated unless given) is shown once.',
      body: WebhookCreate,
      response: { 201: WebhookCreated, 400: ErrorRef, 401: ErrorRef, 403: ErrorRef },
    },
  }, async (req, reply) => {
    const { webhook, secret } = await webhooks.create({ ...fields(req.body), url: req.body.url });
    req.auditTarget = `webhook:${webhook.id}`;
    return reply.code(201).header('location', `/api/v1/webhooks/${webhook.id}`).send({ ...webhookOut(webhook), secret });
  });

  app.get('/webhooks/:id', {
    config: { access: manage },
    schema: { tags, summary: 'One webhook subscription, with its ledger counts.', params: NumericIdParams, response: { 200: WebhookOut, 400: ErrorRef, 404: ErrorRef } },
  }, async (req) => webhookOut(await webhooks.get(req.params.id)));

  app.patch('/webhooks/:id', {
    config: { access: manage, audit: 'webhook.update', auditTarget: 'webhook' },
    schema: {
      querystring: NoQuery,
      tags,
      summary: 'Change a subscription (name, url, secret, filters, enabled). Events emitted while it was disabled are not sent once it is enabled again.',
      params: NumericIdParams,
      body: WebhookPatch,
      response: { 200: WebhookOut, 400: ErrorRef, 404: ErrorRef },
    },
  }, async (req) => {
    return webhookOut(await webhooks.update(req.params.id, fields(req.body)));
  });

  app.delete('/webhooks/:id', {
    config: { access: manage, audit: 'webhook.delete', auditTarget: 'webhook' },
    schema: { querystring: NoQuery, tags, summary: 'Delete a subscription and its delivery ledger; nothing more is sent to it.', params: NumericIdParams, response: { 204: Type.Null(), 400: ErrorRef, 404: ErrorRef } },
  }, async (req, reply) => {
    await webhooks.delete(req.params.id);
    return reply.code(204).send(null);
  });

  app.get('/webhooks/:id/deliveries', {
    config: { access: manage },
    schema: {
      tags,
      summary: 'The delivery ledger of a subscription, newest event first: status, attempts, next attempt, last error, response code.',
      params: NumericIdParams,
      querystring: DeliveryQuery,
      response: { 200: Type.Object({ deliveries: Type.Array(DeliveryOut), next_cursor: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorRef, 404: ErrorRef },
    },
  }, async (req) => {
    const limit = req.query.limit ?? DEFAULT_PAGE;
    const rows = await webhooks.deliveries(req.params.id, {
      status: req.query.status,
      beforeEventId: req.query.cursor === undefined ? undefined : Number(req.query.cursor),
      limit: limit + 1,
    });
    const more = rows.length > limit;
    if (more) rows.pop();
    const last = rows[rows.length - 1];
    return { deliveries: rows.map(deliveryOut), next_cursor: more && last ? String(last.eventId) : null };
  });

  app.post('/webhooks/:id/deliveries/:delivery_id/redeliver', {
    config: { access: manage, audit: 'webhook.redeliver', auditTarget: 'webhook' },
    schema: {
      querystring: NoQuery,
      tags,
      summary: 'Send a delivery again, now, with a fresh attempt budget and the same delivery id (a receiver that already handled it can tell).',
      params: DeliveryParams,
      response: { 202: DeliveryOut, 400: ErrorRef, 404: ErrorRef, 409: ErrorRef },
    },
  }, async (req, reply) => reply.code(202).send(deliveryOut(await webhooks.redeliver(req.params.id, req.params.delivery_id))));

  app.post('/webhooks/:id/test', {
    config: { access: manage, audit: 'webhook.test', auditTarget: 'webhook' },
    schema: {
      querystring: NoQuery,
      tags,
      summary: 'Send a webhook_test event to this subscription only (signed and retried like every delivery); 202 with its ledger row.',
      params: NumericIdParams,
      response: { 202: DeliveryOut, 400: ErrorRef, 404: ErrorRef, 409: ErrorRef },
    },
  }, async (req, reply) => reply.code(202).send(deliveryOut(await webhooks.test(req.params.id, { requestId: req.id }))));
};

/** A subscription's fields as the API names them, in the service's terms (absent stays absent). */
function fields(b: Static<typeof WebhookPatch>): WebhookChange {
  return { name: b.name, url: b.url, secret: b.secret, eventTypes: b.event_types, minSeverity: b.min_severity, cameras: b.cameras, enabled: b.enabled };
}
