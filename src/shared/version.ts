import { createRequire } from 'node:module';

/** Vigil's version, from package.json (two levels up from both src/shared and dist/shared). */
export const VIGIL_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
