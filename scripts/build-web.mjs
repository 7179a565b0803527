#!/usr/bin/env node
// Bundles the operator page (web/) into dist/web/: index.html plus content-hashed assets, minified.
// hls.js is split into its own chunk, loaded only when recorded playback starts.
// Files are written atomically (temp + rename), so a server serving dist/web never sees half a file.
// Usage: node scripts/build-web.mjs [--outdir DIR] [--quiet]
import { build } from 'esbuild';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outArg = args.indexOf('--outdir');
const outDir = outArg >= 0 && args[outArg + 1] ? resolve(args[outArg + 1]) : join(root, 'dist', 'web');
const quiet = args.includes('--quiet');

const result = await build({
  absWorkingDir: root,
  entryPoints: { app: 'web/src/main.ts', style: 'web/style.css' },
  bundle: true,
  splitting: true,
  format: 'esm',
  minify: true,
  target: ['chrome105', 'firefox110', 'safari15.4'],
  outdir: outDir,
  entryNames: 'assets/[name]-[hash]',
  chunkNames: 'assets/[name]-[hash]',
  sourcemap: 'linked',
  metafile: true,
  write: false,
  legalComments: 'linked',
  logLevel: 'warning',
});

const outputs = result.outputFiles.map((f) => ({ path: f.path, rel: relative(outDir, f.path), contents: f.contents }));
const entryOf = (entry) => {
  const found = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint === entry);
  if (!found) throw new Error(`build-web: no output for ${entry}`);
  return relative(outDir, resolve(root, found[0]));
};
const appJs = entryOf('web/src/main.ts');
const styleCss = entryOf('web/style.css');

// index.html names the sources; the built one names the hashed files (relative, so a path prefix works).
const html = (await readFile(join(root, 'web', 'index.html'), 'utf8'))
  .replace('href="style.css"', `href="${styleCss}"`)
  .replace('src="src/main.ts"', `src="${appJs}"`);
if (!html.includes(appJs) || !html.includes(styleCss)) throw new Error('build-web: index.html does not reference style.css and src/main.ts');

async function writeAtomic(path, contents) {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, contents);
  await rename(tmp, path);
}

for (const o of outputs) await writeAtomic(o.path, o.contents);
await writeAtomic(join(outDir, 'index.html'), html);

// Drop assets of earlier builds (not temp files of a concurrent build, which end in .tmp-<pid>).
const keep = new Set(outputs.map((o) => o.rel));
for (const name of await readdir(join(outDir, 'assets')).catch(() => [])) {
  const rel = join('assets', name);
  if (!keep.has(rel) && !/\.tmp-\d+$/.test(name)) await rm(join(outDir, rel), { force: true });
}

if (!quiet) {
  const sized = outputs.filter((o) => !o.rel.endsWith('.map') && !o.rel.endsWith('.txt'));
  const initial = new Set([appJs, styleCss, ...(result.metafile.outputs[relative(root, join(outDir, appJs))]?.imports ?? [])
    .filter((i) => i.kind === 'import-statement').map((i) => relative(outDir, resolve(root, i.path)))]);
  let initialGz = 0;
  for (const o of sized) {
    const gz = gzipSync(o.contents).length;
    if (initial.has(o.rel)) initialGz += gz;
    console.log(`${o.rel.padEnd(40)} ${String(o.contents.length).padStart(8)} B  ${String(gz).padStart(7)} B gzip${initial.has(o.rel) ? '' : '  (lazy)'}`);
  }
  console.log(`build-web: ${relative(root, outDir)}/ — first load ${initialGz} B gzip (html not counted)`);
}
