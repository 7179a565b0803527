import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Type } from '@fastify/type-provider-typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../test/support/harness.js';
import { CatalogUnavailableError } from '../db/write-errors.js';
import { VigilError, type ErrorKind } from '../shared/errors.js';
import { registerErrorHandler } from './error-handler.js';
import { requestIdFor } from './request-id.js';
import { validatorCompiler } from './validation.js';

const SECRET = 'rtsp://admin:hunter2@10.0.0.9/stream';

let app: FastifyInstance;
let logs: () => string;

/** A bare Fastify with only the error mapper (and the validator) of the real server, and routes that throw. */
beforeAll(async () => {
  const { log, text } = memoryLogger();
  logs = text;
  app = Fastify({ loggerInstance: log as FastifyBaseLogger, genReqId: requestIdFor, bodyLimit: 1024 });
  app.setValidatorCompiler(validatorCompiler);
  registerErrorHandler(app);
  app.get('/throw/:kind', async (req) => {
    const kind = (req.params as { kind: ErrorKind }).kind;
    throw new VigilError(kind, `${kind} happened near ${SECRET}`, { field: 'thing' });
  });
  app.get('/details', async () => {
    throw new VigilError('not_found', 'no footage in that range', { field: 'from', details: { gaps: [{ start: 'a', end: 'b' }], error: 'spoofed' } });
  });
  app.get('/busy', async () => {
    throw new VigilError('unavailable', 'too many exports running', { retryAfterSeconds: 5 });
  });
  app.get('/catalog/:reason', async (req) => {
    throw new CatalogUnavailableError((req.params as { reason: 'full' | 'busy' }).reason, Object.assign(new Error(`SQLITE_FULL at ${SECRET}`), { code: 'SQLITE_FULL' }));
  });
  app.get('/plain', async () => {
    throw new Error(`ENOENT: no such file ${SECRET}`);
  });
  app.get('/fastify-4xx', async () => {
    throw Object.assign(new Error('Unsupported Media Type: text/plain'), { statusCode: 415 });
  });
  app.get('/odd-4xx', async () => {
    throw Object.assign(new Error('I am a teapot'), { statusCode: 418 });
  });
  app.post('/validated', {
    schema: { body: Type.Object({ segment_seconds: Type.Integer({ minimum: 2 }) }, { additionalProperties: false }) },
  }, async () => ({ ok: true }));
  await app.ready();
});

afterAll(async () => {
  await app.close();
});

describe('the error mapper', () => {
  const statuses: Array<[ErrorKind, number]> = [
    ['invalid_argument', 400],
    ['unauthenticated', 401],
    ['forbidden', 403],
    ['not_found', 404],
    ['conflict', 409],
    ['failed_precondition', 409],
    ['too_many_requests', 429],
    ['bad_gateway', 502],
  ];

  it.each(statuses)('answers a VigilError of kind %s with %i and {error, message, field}', async (kind, status) => {
    const res = await app.inject({ url: `/throw/${kind}` });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toEqual({ error: kind, message: `${kind} happened near ${SECRET}`, field: 'thing' });
  });

  it('adds the error details to the body, never over error/message/field', async () => {
    const res = await app.inject({ url: '/details' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ gaps: [{ start: 'a', end: 'b' }], error: 'not_found', message: 'no footage in that range', field: 'from' });
  });

  it('answers `unavailable` with 503, its message and Retry-After', async () => {
    const res = await app.inject({ url: '/busy' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.json()).toEqual({ error: 'unavailable', message: 'too many exports running' });
  });

  it('answers a catalog that cannot take writes with 503, Retry-After 30 (full) or 1 (busy), the request id, and no engine detail', async () => {
    for (const [reason, retry] of [['full', '30'], ['busy', '1']] as const) {
      const res = await app.inject({ url: `/catalog/${reason}`, headers: { 'x-request-id': `req-${reason}` } });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe(retry);
      const body = res.json<{ error: string; message: string; request_id: string }>();
      expect(body).toEqual({ error: 'unavailable', message: expect.stringContaining('nothing was changed'), request_id: `req-${reason}` });
      expect(res.body).not.toContain('SQLITE');
      expect(res.body).not.toContain('hunter2');
    }
    expect(logs()).toContain('the database disk is full');
    expect(logs()).toContain('the database is busy');
  });

  it('answers an `internal` VigilError and a plain Error with 500 internal and the request id, the detail only in the log', async () => {
    for (const url of ['/throw/internal', '/plain']) {
      const res = await app.inject({ url, headers: { 'x-request-id': 'req-500' } });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: 'internal', message: 'internal error', request_id: 'req-500' });
      expect(res.body).not.toContain('hunter2');
      expect(res.headers['retry-after']).toBeUndefined();
    }
    expect(logs()).toContain('ENOENT: no such file');
    expect(logs()).toContain('request failed');
  });

  it('names a Fastify 4xx by its status, and any other 4xx invalid_argument', async () => {
    const media = await app.inject({ url: '/fastify-4xx' });
    expect(media.statusCode).toBe(415);
    expect(media.json()).toEqual({ error: 'unsupported_media_type', message: 'Unsupported Media Type: text/plain' });
    const odd = await app.inject({ url: '/odd-4xx' });
    expect(odd.statusCode).toBe(418);
    expect(odd.json()).toEqual({ error: 'invalid_argument', message: 'I am a teapot' });
    const big = await app.inject({ method: 'POST', url: '/validated', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ segment_seconds: 2, pad: 'x'.repeat(2000) }) });
    expect(big.statusCode).toBe(413);
    expect(big.json<{ error: string }>().error).toBe('payload_too_large');
    const notJson = await app.inject({ method: 'POST', url: '/validated', headers: { 'content-type': 'application/xml' }, payload: '<segment_seconds>2</segment_seconds>' });
    expect(notJson.statusCode).toBe(415);
    expect(notJson.json<{ error: string }>().error).toBe('unsupported_media_type');
  });

  it('answers a schema violation with 400 invalid_argument naming the field, and says where', async () => {
    const post = (body: unknown) => app.inject({ method: 'POST', url: '/validated', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    const small = await post({ segment_seconds: 1 });
    expect(small.statusCode).toBe(400);
    expect(small.json()).toEqual({ error: 'invalid_argument', message: 'body field "segment_seconds" must be >= 2', field: 'segment_seconds' });
    const extra = await post({ segment_seconds: 2, bogus: 1 });
    expect(extra.json()).toEqual({ error: 'invalid_argument', message: 'body field "bogus" unknown field', field: 'bogus' });
    const missing = await post({});
    expect(missing.json()).toMatchObject({ error: 'invalid_argument', field: 'segment_seconds' });
    // Bodies are not coerced: "60" is not an integer.
    expect((await post({ segment_seconds: '60' })).statusCode).toBe(400);
  });

  it('answers an unknown route with a JSON 404 naming method and path, not the query', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/no/such/route?token=abc' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'not_found', message: 'no route DELETE /no/such/route' });
  });
});
