import type { ValueError } from '@sinclair/typebox/value';

/**
 * Turns a TypeBox validation error into `{field, message}` with the field written the way a person
 * reads it: `/cameras/0/segment_seconds` → `cameras[0].segment_seconds`.
 */
export function describeSchemaError(err: ValueError | undefined): { field: string; message: string } {
  if (!err) return { field: '(root)', message: 'invalid value' };
  let field = pointerToField(err.path);
  let message = err.message;
  // An unknown key is reported on the parent object; name the key itself.
  if (err.schema && (err.schema as { additionalProperties?: unknown }).additionalProperties === false) {
    const known = Object.keys((err.schema as { properties?: object }).properties ?? {});
    const extra =
      err.value && typeof err.value === 'object'
        ? Object.keys(err.value as object).find((k) => !known.includes(k))
        : undefined;
    if (extra !== undefined) {
      field = field === '(root)' ? extra : `${field}.${extra}`;
      message = 'unknown field';
    }
  }
  return { field, message: message.toLowerCase() };
}

export function pointerToField(pointer: string): string {
  if (!pointer || pointer === '/') return '(root)';
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}
