import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LAYOUT, renderUnit, VIGIL_NODE_FLAGS } from './service.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** The unit's directives of one key, comments left out. */
const directive = (unit: string, key: string) => unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

describe('the Node flags Vigil runs with', () => {
  it('are the same in the unit, npm start and the entry point\'s shebang', async () => {
    const flags = VIGIL_NODE_FLAGS.join(' ');
    expect(flags).toMatch(/--max-semi-space-size=\d+/);
    expect(flags).toContain('--single-threaded-gc');
    expect(directive(renderUnit(DEFAULT_LAYOUT), 'ExecStart')[0]).toContain(`/usr/bin/node ${flags} /opt/vigil/dist/cli/main.js `);
    const pkg = JSON.parse(await readFile(resolve(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${flags} dist/cli/main.js serve`);
    const main = await readFile(resolve(ROOT, 'src/cli/main.ts'), 'utf8');
    expect(main.split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flags}`);
  });
});

describe('the systemd unit', () => {
  it('is the one shipped in deploy/systemd (the file and the command cannot drift apart)', async () => {
    expect(await readFile(resolve(ROOT, 'deploy/systemd/vigil.service'), 'utf8')).toBe(renderUnit(DEFAULT_LAYOUT));
  });

  it('runs the built entry point as the vigil user, stops with SIGTERM to Vigil alone, reloads with SIGHUP', () => {
    const unit = renderUnit(DEFAULT_LAYOUT);
    expect(directive(unit, 'ExecStart')).toEqual(['/usr/bin/node --max-semi-space-size=2 --single-threaded-gc /opt/vigil/dist/cli/main.js serve --config /etc/vigil/vigil.yml --data /var/lib/vigil']);
    expect(directive(unit, 'User')).toEqual(['vigil']);
    expect(directive(unit, 'Group')).toEqual(['vigil']);
    expect(directive(unit, 'KillSignal')).toEqual(['SIGTERM']);
    // Vigil stops its ffmpegs itself (SIGINT, last segment closed): systemd must not signal them first.
    expect(directive(unit, 'KillMode')).toEqual(['mixed']);
    expect(Number(directive(unit, 'TimeoutStopSec')[0])).toBeGreaterThanOrEqual(30);
    expect(directive(unit, 'ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(directive(unit, 'Restart')).toEqual(['on-failure']);
    expect(directive(unit, 'StateDirectory')).toEqual(['vigil']);
    expect(directive(unit, 'ReadWritePaths')).toEqual(['/var/lib/vigil']);
    expect(directive(unit, 'ProtectSystem')).toEqual(['strict']);
    expect(directive(unit, 'SystemCallFilter')).toEqual(['@system-service']);
    // V8's JIT needs writable and executable memory.
    expect(directive(unit, 'MemoryDenyWriteExecute')).toEqual([]);
    // npm 11's npx does not pass SIGTERM on.
    expect(directive(unit, 'ExecStart')[0]).not.toMatch(/npx/);
  });

  it('gives a data dir outside /var/lib write access without StateDirectory (which only creates dirs under /var/lib)', () => {
    const unit = renderUnit({ ...DEFAULT_LAYOUT, dataDir: '/srv/nvr/vigil-data', user: 'nvr' });
    expect(directive(unit, 'StateDirectory')).toEqual([]);
    expect(directive(unit, 'ReadWritePaths')).toEqual(['/srv/nvr/vigil-data']);
    expect(directive(unit, 'WorkingDirectory')).toEqual(['/srv/nvr/vigil-data']);
    expect(directive(unit, 'User')).toEqual(['nvr']);
    expect(directive(unit, 'ExecStart')[0]).toMatch(/ --data \/srv\/nvr\/vigil-data$/);
  });

  it('refuses paths that a unit file would split or expand, naming the flag', () => {
    expect(() => renderUnit({ ...DEFAULT_LAYOUT, dataDir: '/srv/my data' })).toThrow(/^--data: /);
    expect(() => renderUnit({ ...DEFAULT_LAYOUT, configPath: '/etc/vigil/%i.yml' })).toThrow(/^--config: /);
    expect(() => renderUnit({ ...DEFAULT_LAYOUT, nodePath: 'node' })).toThrow(/^--node: .*absolute/);
    expect(() => renderUnit({ ...DEFAULT_LAYOUT, user: 'Vigil Admin' })).toThrow(/^--user: /);
  });
});
