/** The one error type services throw; only the API's error mapper turns `kind` into a status code. */
export type ErrorKind =
  | 'not_found'
  | 'invalid_argument'
  | 'unauthenticated'
  | 'forbidden'
  | 'too_many_requests'
  | 'conflict'
  | 'failed_precondition'
  | 'unavailable'
  /** A device Vigil talked to on the caller's behalf (an ONVIF camera) failed; `details.reason` says how. */
  | 'bad_gateway'
  | 'internal';

export class VigilError extends Error {
  readonly kind: ErrorKind;
  /** The request or config field the error is about, when there is one (e.g. `segment_seconds`). */
  readonly field: string | undefined;
  /** Extra fields for the response body (e.g. the `gaps` of a clip range with no footage). */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  /** For `unavailable`: when the client may retry (the `Retry-After` header). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    kind: ErrorKind,
    message: string,
    opts: { field?: string; cause?: unknown; details?: Record<string, unknown>; retryAfterSeconds?: number } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'VigilError';
    this.kind = kind;
    this.field = opts.field;
    this.details = opts.details;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

export const notFound = (message: string, field?: string) =>
  new VigilError('not_found', message, field === undefined ? {} : { field });
export const invalidArgument = (message: string, field?: string) =>
  new VigilError('invalid_argument', message, field === undefined ? {} : { field });
export const conflict = (message: string, field?: string) =>
  new VigilError('conflict', message, field === undefined ? {} : { field });

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
