import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

export interface HealthDeps {
  /** Start-up has finished (migrations, reconciliation, recorders started) and the database answers. */
  ready(): Promise<{ ready: boolean; detail: Record<string, unknown> }>;
}

export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: HealthDeps }> = async (app, { deps }) => {
  app.get('/healthz', {
    config: { access: { cap: 'public' } },
    schema: { tags: ['health'], summary: 'Liveness: the process answers.', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    config: { access: { cap: 'public' } },
    schema: {
      tags: ['health'],
      summary: 'Readiness: started up, database reachable.',
      response: {
        200: Type.Object({ status: Type.String(), detail: Type.Record(Type.String(), Type.Unknown()) }),
        503: Type.Object({ status: Type.String(), detail: Type.Record(Type.String(), Type.Unknown()) }),
      },
    },
  }, async (_req, reply) => {
    const r = await deps.ready();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not_ready', detail: r.detail });
  });
};
