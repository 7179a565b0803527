import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext resolution.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * Two validators: bodies are checked strictly (no type coercion, unknown fields refused instead of
 * silently dropped), while query strings and path params, which are text on the wire, are coerced.
 */
function makeAjv(coerce: boolean): Ajv {
  // `validateSchema: false`: the schemas are Vigil's own, checked against JSON Schema's meta-schema by a
  // test (`schemaProblems`); checking them at run time made each Ajv compile the meta-schema at its
  // first compile, 25-40 ms of the event loop on a quiet machine, ~150 ms during a restart's spawns.
  const ajv = new Ajv({ coerceTypes: coerce, removeAdditional: false, useDefaults: true, allErrors: false, strict: false, validateSchema: false });
  addFormats(ajv);
  return ajv;
}

let checkingAjv: Ajv | undefined;

/** What makes `schema` invalid JSON Schema (as Ajv's meta-schema says), or undefined when it is valid. */
export function schemaProblems(schema: object): string | undefined {
  checkingAjv ??= addFormats(new Ajv({ strict: false }));
  return checkingAjv.validateSchema(schema) ? undefined : checkingAjv.errorsText(checkingAjv.errors);
}

const bodyAjv = makeAjv(false);
const textAjv = makeAjv(true);

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object);

/** The field a validation error is about, as the client wrote it (`segment_seconds`, `from`). */
export function fieldOf(err: ErrorObject): string | undefined {
  // Written as the config file's errors are: `motion.zones[0].polygon`.
  const base = err.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
  const params = err.params as { additionalProperty?: string; missingProperty?: string };
  const child = params.additionalProperty ?? params.missingProperty;
  if (child) return base ? `${base}.${child}` : child;
  return base || undefined;
}

export function describeValidation(err: ErrorObject): string {
  const params = err.params as { additionalProperty?: string };
  if (err.keyword === 'additionalProperties' && params.additionalProperty) return 'unknown field';
  if (err.keyword === 'pattern') {
    return fieldOf(err)?.endsWith('url') ? 'must be an rtsp:// or rtsps:// URL without spaces' : 'has an invalid format';
  }
  return err.message ?? 'is invalid';
}
