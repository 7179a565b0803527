#!/usr/bin/env node
// Bundles the server and CLI (src/cli/main.ts and everything it imports) into dist/cli/main.js plus
// chunks beside it (each command's modules load only when it runs). Node spends most of Vigil's
// start-up resolving, reading and compiling some thousand small module files; one bundle roughly
// halves the time to `readyz` (docs/proof.md, "Restart"). Run after tsc, whose dist/ stays complete:
// the backup worker and the verifier page are read from there (by folder name: see src/db/backup.ts).
// Left outside the bundle, loaded from node_modules as usual: native addons (better-sqlite3, argon2),
// packages that read their own files or start workers at run time (pino, swagger, swagger-ui), and
// those loaded only when configured (pg, mqtt).
import { build } from 'esbuild';
import { readdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist', 'cli');
const EXTERNAL = [
  'better-sqlite3',
  '@node-rs/argon2',
  'pg',
  'pg-native',
  'pino',
  'pino-pretty',
  'thread-stream',
  '@fastify/swagger',
  '@fastify/swagger-ui',
  'mqtt',
  'bufferutil',
  'utf-8-validate',
];

// Chunks of an earlier build go first: their names carry content hashes.
for (const f of await readdir(outDir).catch(() => [])) if (f.startsWith('bundle-')) await rm(join(outDir, f));

await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/cli/main.ts' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: outDir,
  entryNames: '[name]',
  chunkNames: 'bundle-[name]-[hash]',
  external: EXTERNAL,
  // CommonJS packages inside an ES module bundle still call require() for Node's own modules.
  banner: { js: "import { createRequire as __vigilRequire } from 'node:module'; const require = __vigilRequire(import.meta.url);" },
  // Maps beside each file (tsc's main.js.map would otherwise describe the file this one replaced).
  sourcemap: 'linked',
  logLevel: 'warning',
});
