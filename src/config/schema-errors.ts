import { ValueErrorType, type ValueError } from '@sinclair/typebox/value';

/**
 * Turns a TypeBox validation error into `{field, message}` with the field written the way a person
 * reads it: `/cameras/0/segment_seconds` → `cameras[0].segment_seconds`.
 */
export function describeSchemaError(err: ValueError | undefined): { field: string; message: string } {
  if (!err) return { field: '(root)', message: 'invalid value' };
  const field = pointerToField(err.path);
  // TypeBox reports an unknown key at the key's own path (its value in `err.value`); say what it is.
  let message = err.type === ValueErrorType.ObjectAdditionalProperties ? 'unknown field' : err.message;
  if (err.type === ValueErrorType.StringPattern) message = patternHint(field) ?? message;
  if (err.type === ValueErrorType.Union && field.endsWith('min_free_bytes')) message = 'must be a number of bytes or a percentage like "10%"';
  return { field, message };
}

export function pointerToField(pointer: string): string {
  if (!pointer || pointer === '/') return '(root)';
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}

/** Regex patterns mean nothing to a person writing YAML; say what the field wants instead. */
function patternHint(field: string): string | undefined {
  if (field.endsWith('_url')) return 'must be an rtsp:// or rtsps:// URL without spaces';
  if (field.endsWith('id')) return 'must be a slug: a-z, 0-9, _ and -, starting with a letter or digit, at most 63 characters';
  return undefined;
}
