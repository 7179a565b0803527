import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

/**
 * What the console needs to know about the site before it shows a time: the one zone every time on
 * the page is shown and typed in (config `site.time_zone`). Public: the login page shows it too, and a
 * zone name tells nothing about the footage.
 */
export const siteRoutes: FastifyPluginAsyncTypebox<{ timeZone: string }> = async (app, { timeZone }) => {
  app.get('/site', {
    config: { access: { cap: 'public' } },
    schema: {
      tags: ['health'],
      summary: 'The site\'s time zone (IANA name): the console shows and takes every time in it.',
      response: { 200: Type.Object({ time_zone: Type.String() }) },
    },
  }, async () => ({ time_zone: timeZone }));
};
