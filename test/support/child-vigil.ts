import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { VIGIL_NODE_FLAGS } from '../../src/cli/service.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface ChildVigil {
  proc: ChildProcess;
  url: string;
  output: () => string;
  /** SIGKILL: no chance to close anything. */
  kill9(): Promise<void>;
  /** SIGTERM: graceful shutdown; resolves with the exit code. */
  term(): Promise<number | null>;
}

/** The built server bundle (`npm run build`), run as a service runs it. */
export const BUILT_ENTRY = join(ROOT, 'dist', 'cli', 'main.js');

/**
 * Runs `vigil serve` as its own process (so it can be killed -9), from the sources through tsx, or
 * (`entry: 'built'`) from the built bundle with Vigil's Node flags, as `npm start` and the unit run it.
 */
export async function startChildVigil(dataDir: string, config: Record<string, unknown>, opts: { listen?: string; entry?: 'src' | 'built' } = {}): Promise<ChildVigil> {
  const configPath = join(dataDir, '..', `${dataDir.split('/').pop()}.yml`);
  await writeFile(configPath, stringify({ demo: false, retention: { min_free_bytes: 0 }, ...config }));
  const entry = opts.entry === 'built' ? [...VIGIL_NODE_FLAGS, BUILT_ENTRY] : ['--import', 'tsx', 'src/cli/main.ts'];
  const proc = spawn(process.execPath, [...entry, 'serve', '--config', configPath, '--data', dataDir, '--listen', opts.listen ?? '127.0.0.1:0'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => proc.once('close', (code) => res(code)));
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`vigil did not start:\n${out.slice(-3000)}`)), 30_000);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      out += `${line}\n`;
      try {
        const rec = JSON.parse(line) as { url?: string; msg?: string };
        if (rec.url && rec.msg?.startsWith('Vigil is recording')) {
          clearTimeout(timer);
          res(rec.url);
        }
      } catch {
        /* not JSON */
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`vigil exited with ${code} before it was ready:\n${out.slice(-3000)}`));
    });
  });
  return {
    proc,
    url,
    output: () => out,
    async kill9() {
      proc.kill('SIGKILL');
      await exited;
    },
    async term() {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}
