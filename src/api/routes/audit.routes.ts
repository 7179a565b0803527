import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AuditLog } from '../../auth/audit.js';
import { toIso } from '../../shared/time.js';
import { ErrorRef } from '../schemas/common.js';
import { AuditOut, AuditQuery } from '../schemas/auth.schemas.js';
import { parseTime } from '../time-params.js';

export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditLog }> = async (app, { audit }) => {
  app.get('/audit', {
    config: { access: { cap: 'audit.view', scope: 'all-cameras' } },
    schema: {
      tags: ['audit'],
      summary: 'The audit trail, newest first: every state change and every access to footage. Append-only.',
      querystring: AuditQuery,
      response: { 200: Type.Object({ entries: Type.Array(AuditOut), next_cursor: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorRef },
    },
  }, async (req) => {
    const q = req.query;
    const limit = q.limit ?? 100;
    const rows = await audit.query({
      ...(q.from !== undefined ? { fromMs: parseTime(q.from, 'from') } : {}),
      ...(q.to !== undefined ? { toMs: parseTime(q.to, 'to') } : {}),
      ...(q.actor_kind !== undefined ? { actorKind: q.actor_kind } : {}),
      ...(q.actor_id !== undefined ? { actorId: q.actor_id } : {}),
      ...(q.action !== undefined ? { action: q.action } : {}),
      ...(q.target !== undefined ? { target: q.target } : {}),
      ...(q.request_id !== undefined ? { requestId: q.request_id } : {}),
      ...(q.outcome !== undefined ? { outcome: q.outcome } : {}),
      ...(q.cursor !== undefined ? { beforeId: Number(q.cursor) } : {}),
      limit: limit + 1,
    });
    const more = rows.length > limit;
    if (more) rows.pop();
    return {
      entries: rows.map((r) => ({
        id: r.id,
        ts: toIso(r.ts_ms),
        actor_kind: r.actor_kind,
        actor_id: r.actor_id,
        actor_name: r.actor_name,
        action: r.action,
        target: r.target,
        request_id: r.request_id,
        client_addr: r.client_addr,
        outcome: r.outcome,
        status_code: r.status_code,
        detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
      })),
      next_cursor: more && rows.length > 0 ? String(rows[rows.length - 1]?.id) : null,
    };
  });
};
