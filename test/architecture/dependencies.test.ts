import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderCycles, folderGraph, type Cruise } from './folder-graph.js';

/**
 * The dependency rules of docs/design.md ("Shape of the code"), checked with dependency-cruiser
 * against `.dependency-cruiser.cjs`: no upward import between layers, media never reaches the catalog
 * or the footage store, nothing outside src/db/ names an engine, no import cycle between modules,
 * and none between the rooms (folders) of src/ either.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules/.bin/depcruise');
const run = promisify(execFile);

async function cruise(cwd: string, paths: string[]): Promise<Cruise> {
  // depcruise exits non-zero when it finds violations; the JSON on stdout says which.
  const out = await run(DEPCRUISE, [...paths, '--config', CONFIG, '--output-type', 'json'], { cwd, maxBuffer: 64 * 1024 * 1024 }).catch(
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
  );
  return JSON.parse(out.stdout) as Cruise;
}

const describeViolation = (v: Cruise['summary']['violations'][number]) => `${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => (typeof c === 'string' ? c : c.name)).join(' → ')})` : ''}`;

describe('the dependency rules of src/', () => {
  let result: Cruise;
  beforeAll(async () => {
    result = await cruise(ROOT, ['src']);
  }, 60_000);

  it('has no forbidden import (upward, media → db/storage, engine outside db, module cycles)', () => {
    expect(result.modules.length).toBeGreaterThan(100);
    expect(result.summary.violations.map(describeViolation)).toEqual([]);
  });

  it('has no cycle between its rooms (folders)', () => {
    expect(folderCycles(folderGraph(result))).toEqual([]);
  });
});

describe('the rules catch what they forbid', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-arch-'));
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', allowJs: true } }));
    const files: Record<string, string> = {
      'src/db/segment.repo.ts': `export const row = 1;\n`,
      'src/media/parse.ts': `import { row } from '../db/segment.repo.js';\nexport const p = row;\n`,
      'src/export/clip.ts': `import { route } from '../api/route.js';\nexport const c = route;\n`,
      'src/api/route.ts': `export const route = 1;\n`,
      'src/indexer/a.ts': `import { b } from '../retention/b.js';\nexport const a = () => b;\n`,
      'src/retention/b.ts': `import { a } from '../indexer/a.js';\nexport const b = () => a;\n`,
      'src/retention/c.ts': `export const c = 1;\n`,
      'src/live/d.ts': `import { c } from '../retention/c.js';\nexport const d = c;\n`,
      'src/retention/e.ts': `import { d } from '../live/d.js';\nexport const e = d;\n`,
    };
    for (const [path, text] of Object.entries(files)) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      await writeFile(join(dir, path), text);
    }
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names each forbidden import, and a folder cycle with no module cycle', async () => {
    const result = await cruise(dir, ['src']);
    const names = result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
    expect(names).toContain('media-not-to-db-or-storage: src/media/parse.ts → src/db/segment.repo.ts');
    expect(names).toContain('no-upward-from-services: src/export/clip.ts → src/api/route.ts');
    expect(names.some((n) => n.startsWith('no-circular: src/indexer/a.ts') || n.startsWith('no-circular: src/retention/b.ts'))).toBe(true);
    // retention/e → live/d → retention/c: no module cycle, but the rooms retention and live import each other.
    expect(folderCycles(folderGraph(result))).toEqual(expect.arrayContaining([expect.arrayContaining(['live', 'retention'])]));
  }, 60_000);
});
