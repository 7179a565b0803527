import type { FastifyError, FastifyInstance } from 'fastify';
import type { ErrorObject } from 'ajv';
import { CatalogUnavailableError } from '../db/write-errors.js';
import { VigilError, type ErrorKind } from '../shared/errors.js';
import { describeValidation, fieldOf } from './validation.js';

const STATUS: Record<ErrorKind, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  forbidden: 403,
  too_many_requests: 429,
  not_found: 404,
  conflict: 409,
  failed_precondition: 409,
  unavailable: 503,
  bad_gateway: 502,
  internal: 500,
};

const GENERIC_4XX: Record<number, string> = {
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  408: 'request_timeout',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
};

/** The one place errors become status codes. 5xx details stay in the log, never in the response. */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof VigilError) {
      const status = STATUS[err.kind];
      // `unavailable` (busy, retry later) and `bad_gateway` (a camera's failure) say nothing internal;
      // every other 5xx stays in the log.
      if (status >= 500 && err.kind !== 'unavailable' && err.kind !== 'bad_gateway') return internal(err);
      if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds));
      // The catalog could not take the write (its disk full, or locked past the busy timeout): nothing
      // was changed, and the same request succeeds later. A 503 says so; a 500 would say "bug".
      if (err instanceof CatalogUnavailableError) {
        req.log.error({ err }, err.reason === 'full' ? 'the database disk is full' : 'the database is busy');
        return reply.code(status).send({ error: err.kind, message: err.message, request_id: req.id });
      }
      return reply.code(status).send({ ...err.details, error: err.kind, message: err.message, ...(err.field ? { field: err.field } : {}) });
    }
    if (err.validation) {
      const first = err.validation[0] as ErrorObject | undefined;
      const where = err.validationContext ?? 'request';
      const field = first ? fieldOf(first) : undefined;
      const message = first ? `${where}${field ? ` field "${field}"` : ''} ${describeValidation(first)}` : err.message;
      return reply.code(400).send({ error: 'invalid_argument', message, ...(field ? { field } : {}) });
    }
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const kind = GENERIC_4XX[status] ?? 'invalid_argument';
      return reply.code(status).send({ error: kind, message: err.message });
    }
    return internal(err);

    function internal(e: Error) {
      req.log.error({ err: e }, 'request failed');
      return reply.code(500).send({ error: 'internal', message: 'internal error', request_id: req.id });
    }
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0] ?? ''}` });
  });
}
