import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { SEGMENT_NAME_PATTERN } from '../../src/storage/segment-names.js';
import { startChildVigil } from '../support/child-vigil.js';
import { checkConsistency, readCatalog } from '../support/footage.js';
import { ffmpegPidsFor, filesUnder, removeDir, tempDir, waitFor } from '../support/harness.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function vigil(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** `systemd-analyze` comes with the `systemd` package; without it the unit cannot be verified here. */
const analyzer = spawnSync('systemd-analyze', ['--version']).status === 0;
if (!analyzer) console.warn('systemd-analyze not found (Debian package systemd): the unit files are not verified');

describe('vigil service install', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => removeDir(dir));

  it('prints the unit for this install, with the node running it, and writes nothing', async () => {
    const out = await vigil(['service', 'install']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain(`ExecStart=${process.execPath} --max-semi-space-size=2 --single-threaded-gc ${join(ROOT, 'dist/cli/main.js')} serve --config /etc/vigil/vigil.yml --data /var/lib/vigil\n`);
    expect(out.stdout).toContain('KillSignal=SIGTERM\n');
    expect(out.stderr).not.toContain('Wrote');
  });

  it('writes the unit for a layout of its own, says what to run as root, and the unit passes systemd-analyze verify', async () => {
    const dataDir = join(dir, 'data');
    const configPath = join(dir, 'etc', 'vigil.yml');
    const unitPath = join(dir, 'vigil.service');
    await mkdir(dataDir);
    await mkdir(join(dir, 'etc'));
    await writeFile(configPath, 'demo: false\n');
    const out = await vigil(['service', 'install', '--user', 'nvr', '--data', dataDir, '--config', configPath, '--node', process.execPath, '--to', unitPath]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toBe('');
    const unit = await readFile(unitPath, 'utf8');
    expect(unit).toContain(`ExecStart=${process.execPath} --max-semi-space-size=2 --single-threaded-gc ${join(ROOT, 'dist/cli/main.js')} serve --config ${configPath} --data ${dataDir}\n`);
    expect(unit).toContain(`ReadWritePaths=${dataDir}\n`);
    expect(unit).toContain('User=nvr\nGroup=nvr\n');
    // The commands are printed, never run.
    expect(out.stderr).toContain(`Wrote ${unitPath}`);
    expect(out.stderr).toContain('useradd --system --user-group');
    expect(out.stderr).toContain(' nvr\n');
    expect(out.stderr).toContain('systemctl daemon-reload && systemctl enable --now vigil');
    expect(spawnSync('getent', ['passwd', 'nvr']).status).not.toBe(0);

    if (!analyzer) return;
    const verify = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
    expect(verify.status, verify.stderr).toBe(0);
    // Unknown keys and bad values are only warned about (exit 0): any output is a defect.
    expect(`${verify.stdout}${verify.stderr}`.trim()).toBe('');
  });

  it('the shipped unit passes systemd-analyze verify', async () => {
    if (!analyzer) return;
    // verify checks that ExecStart's program exists: where node is not /usr/bin/node, the one running here stands in.
    const shipped = await readFile(join(ROOT, 'deploy/systemd/vigil.service'), 'utf8');
    const unitPath = join(dir, 'shipped', 'vigil.service');
    await mkdir(join(dir, 'shipped'));
    await writeFile(unitPath, existsSync('/usr/bin/node') ? shipped : shipped.replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `));
    const verify = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8' });
    expect(verify.status, verify.stderr).toBe(0);
    expect(`${verify.stdout}${verify.stderr}`.trim()).toBe('');
  });

  it('the verification catches a broken unit (so a pass means something)', async () => {
    if (!analyzer) return;
    const broken = join(dir, 'broken.service');
    const shipped = await readFile(join(ROOT, 'deploy/systemd/vigil.service'), 'utf8');
    await writeFile(broken, shipped.replace('KillMode=mixed', 'KillMode=gently').replace('/usr/bin/node', '/nonexistent/node'));
    const verify = spawnSync('systemd-analyze', ['verify', broken], { encoding: 'utf8' });
    expect(verify.stderr).toMatch(/kill mode/i);
    expect(verify.stderr).toMatch(/nonexistent\/node/);
  });

  it('refuses a data dir with a space (ExecStart= would split it), naming the flag, and writes nothing', async () => {
    const unitPath = join(dir, 'refused.service');
    const out = await vigil(['service', 'install', '--data', '/srv/my data', '--to', unitPath]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/^vigil: --data: "\/srv\/my data" must be an absolute path/);
    await expect(readFile(unitPath)).rejects.toThrow(/ENOENT/);
  });
});

/** The parent pid of a live process, from /proc; undefined once it is gone (or a zombie). */
async function parentOf(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const m = /\) (\S) (\d+) /.exec(stat);
  return m && m[1] !== 'Z' ? Number(m[2]) : undefined;
}

interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Event types from the signal on, in order. */
  eventsAfter: string[];
  rowsBefore: number;
  rowsAfter: number;
}

/** Records a fake camera with a child Vigil, stops it with `sig` mid-segment, and checks what it left. */
async function recordThenStop(server: RtspServer, sig: 'SIGINT' | 'SIGTERM'): Promise<StopResult> {
  const dataDir = await tempDir();
  try {
    const vigil = await startChildVigil(dataDir, {
      cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }],
      recorder: { rtsp_timeout_seconds: 3, backoff_initial_ms: 500, backoff_max_ms: 2000 },
    });
    await waitFor('2 segments indexed', () => readCatalog(dataDir).segments.length >= 2, 40_000);
    const ffmpegs = await ffmpegPidsFor(dataDir);
    expect(ffmpegs).toHaveLength(1);
    // The recorder's ffmpeg is Vigil's own child: Vigil, not the service manager, stops it.
    expect(await parentOf(ffmpegs[0]!)).toBe(vigil.proc.pid);
    const { events, segments } = readCatalog(dataDir);
    const lastEventBefore = events.length;
    const closed = new Promise<[number | null, NodeJS.Signals | null]>((res) => vigil.proc.once('close', (code, signal) => res([code, signal])));
    vigil.proc.kill(sig);
    const [code, signal] = await closed;
    for (const pid of ffmpegs) expect(await parentOf(pid)).toBeUndefined();
    expect(await ffmpegPidsFor(dataDir)).toEqual([]);
    // Every file has its row and every row its file; none is left under ffmpeg's open name.
    expect(await checkConsistency(dataDir)).toEqual([]);
    const files = await filesUnder(join(dataDir, 'recordings'));
    for (const f of files) expect(basename(f)).toMatch(SEGMENT_NAME_PATTERN);
    const after = readCatalog(dataDir);
    expect(vigil.output()).toContain(`"sig":"${sig}"`);
    return { code, signal, eventsAfter: after.events.slice(lastEventBefore).map((e) => e.type), rowsBefore: segments.length, rowsAfter: after.segments.length };
  } finally {
    await removeDir(dataDir);
  }
}

describe('vigil serve stopped by a service manager', () => {
  it('treats SIGTERM exactly like Ctrl-C (SIGINT): exit 0, the last segment closed and indexed, the same events, no ffmpeg left', async () => {
    const server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    try {
      const byInt = await recordThenStop(server, 'SIGINT');
      const byTerm = await recordThenStop(server, 'SIGTERM');
      for (const r of [byInt, byTerm]) {
        expect(r.code).toBe(0);
        expect(r.signal).toBeNull();
        // The segment being written when the signal came was closed and indexed.
        expect(r.rowsAfter).toBeGreaterThan(r.rowsBefore);
        expect(r.eventsAfter.at(-1)).toBe('vigil_stopped');
      }
      expect(byTerm.eventsAfter).toEqual(byInt.eventsAfter);
    } finally {
      await server.stop();
    }
  });
});
