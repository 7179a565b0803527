import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** `npm run torture` as a user types it: exit 1 means a violation, so usage must never exit 1. */
function torture(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'torture/run.ts', ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

describe('npm run torture command line', () => {
  it('prints its usage on --help and exits 0 without running a storm', async () => {
    const r = await torture('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: npm run torture -- [--full] [--only fuzz,crash,faults,disk,tamper] [--seed N]');
    expect(r.stdout).not.toContain('Vigil torture —');
  }, 60_000);

  it('exits 2 naming an unknown flag, an unknown storm or a bad seed', async () => {
    const flag = await torture('--frobnicate');
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--frobnicate');
    expect(flag.stderr).toContain('usage:');
    const storm = await torture('--only', 'fuzz,nope');
    expect(storm.code).toBe(2);
    expect(storm.stderr).toContain('unknown storm "nope"');
    const seed = await torture('--seed', '-1x');
    expect(seed.code).toBe(2);
    expect(seed.stderr).toContain('--seed');
  }, 120_000);
});

describe('npm run bench command line', () => {
  const bench = (...args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { timeout: 60_000 }, (err, _stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr });
      });
    });

  it('exits 2 naming an unknown flag or a flag without its value (1 is a failed run)', async () => {
    const flag = await bench('--frobnicate');
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("Unknown option '--frobnicate'");
    expect(flag.stderr).toContain('usage: npm run bench');
    const missing = await bench('--cameras');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--cameras');
  }, 120_000);

  it('takes a segment length a camera may have, and names --segment-seconds otherwise', async () => {
    for (const bad of ['1', '3601', 'ten']) {
      const r = await bench('--segment-seconds', bad, '--only', 'overhead');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--segment-seconds must be/);
    }
  }, 120_000);
});
