import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Every read of the wall clock in src/ goes through the injected Clock (src/shared/clock.ts), so that
 * services, watchdogs and timeouts can be tested with a controlled clock. Timers (setTimeout) are not
 * clock reads. Tests may read the clock as they like.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLOCK_READ = /\bDate\.now\s*\(|\bnew Date\(\s*\)|\bperformance\.now\s*\(|\bprocess\.hrtime\b/;

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** Lines of code only: block-comment lines (` * …`) and line comments are passed over. */
function codeLines(text: string): Array<{ line: number; code: string }> {
  return text
    .split('\n')
    .map((code, i) => ({ line: i + 1, code: code.replace(/\/\/.*$/, '') }))
    .filter(({ code }) => !/^\s*(\*|\/\*)/.test(code));
}

describe('time in src/', () => {
  it('is read only through the injected Clock', async () => {
    const offenders: string[] = [];
    for (const file of await sources(join(ROOT, 'src'))) {
      const rel = relative(ROOT, file);
      if (rel === join('src', 'shared', 'clock.ts')) continue;
      for (const { line, code } of codeLines(await readFile(file, 'utf8'))) {
        if (CLOCK_READ.test(code)) offenders.push(`${rel}:${line}: ${code.trim()}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('the check sees a clock read and ignores one in a comment', () => {
    expect(codeLines('const t = Date.now();').some(({ code }) => CLOCK_READ.test(code))).toBe(true);
    expect(codeLines(' * Date.now()-compatible\n// Date.now()').some(({ code }) => CLOCK_READ.test(code))).toBe(false);
  });
});
