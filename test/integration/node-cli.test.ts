import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../support/harness.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
let dir: string;

function vigil(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, VIGIL_CATALOG_URL: '' } }, (err, stdout, stderr) =>
      res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

beforeAll(async () => {
  dir = await tempDir('vigil-node-cli-');
  await writeFile(join(dir, 'single.yml'), 'demo: false\n');
});
afterAll(() => removeDir(dir));

/** `vigil node` refuses bad usage with exit 2 and a message naming what is wrong (the cluster path is in cluster.pg.test.ts). */
describe('vigil node: bad usage', () => {
  it('an unknown action, a wrong number of arguments, a bad --wait, and a catalog that is not PostgreSQL', async () => {
    const cfg = ['--config', join(dir, 'single.yml'), '--data', join(dir, 'data')];
    const cases: Array<[string[], RegExp]> = [
      [['node', 'explode', ...cfg], /unknown action "explode"/],
      [['node', 'drain', ...cfg], /drain takes 1 argument/],
      [['node', 'pin', 'cam', ...cfg], /pin takes 2 argument/],
      [['node', 'drain', 'rec-1', '--wait', 'soon', ...cfg], /--wait: "soon"/],
      [['node', 'list', ...cfg], /PostgreSQL catalog: set catalog.url/],
    ];
    for (const [args, message] of cases) {
      const r = await vigil(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.out, args.join(' ')).toMatch(message);
    }
  });
});
