/** Launchers for what the benchmarks measure: bare recorder ffmpegs and a child-process Vigil. */
import { VIGIL_NODE_FLAGS } from '../src/cli/service.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { buildSegmentRecorderArgs, PROGRESS_FD, ProgressParser } from '../src/media/recorder-args.js';
import { defer } from './cleanup.js';
import { freePort, sleep, waitUntil } from './proc.js';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const SETPRIV = '/usr/bin/setpriv';

/** Resolves once `child` has exited; SIGKILL after `graceMs` if `sig` was not enough. */
async function endChild(child: ChildProcess, exited: Promise<unknown>, sig: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill(sig);
  } catch {
    /* gone */
  }
  const timer = setTimeout(() => {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

export interface BareRecorder {
  readonly pid: number;
  /** Resolves when ffmpeg reports muxed media time > 0 (it is recording). */
  readonly recording: Promise<void>;
  stop(): Promise<void>;
}

/**
 * The baseline: one ffmpeg recording as Vigil's does — its argv, setpriv wrapper, env and pipes — but
 * without the live output, so it is the bare `ffmpeg -c copy -f segment` and everything Vigil adds
 * (live output, Node) counts as overhead.
 */
export function spawnBareRecorder(url: string, outputDir: string, segmentSeconds: number, opts: { quickProbe?: boolean } = {}): BareRecorder {
  const args = buildSegmentRecorderArgs({ url, outputDir, segmentSeconds, socketTimeoutSeconds: 10, fileNamePattern: 'bare-%06d.mp4', ...opts });
  const argv = existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', '--', 'ffmpeg', ...args] : ['ffmpeg', ...args];
  const child = spawn(argv[0] as string, argv.slice(1), {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, TZ: 'UTC' },
  });
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  child.stdout?.resume();
  child.stderr?.resume();
  const recording = new Promise<void>((resolve, reject) => {
    const parser = new ProgressParser();
    const progress = child.stdio[PROGRESS_FD] as Readable | null;
    if (progress) {
      createInterface({ input: progress }).on('line', (line) => {
        const p = parser.push(line);
        if (p && p.outTimeUs > 0) resolve();
      });
    }
    void exited.then(() => reject(new Error(`bare ffmpeg ${child.pid ?? '?'} exited (code ${child.exitCode ?? 'null'})`)));
  });
  recording.catch(() => undefined);
  const stop = defer(`bare ffmpeg ${child.pid ?? '?'}`, () => endChild(child, exited, 'SIGINT', 5000));
  return { pid: child.pid ?? -1, recording, stop };
}

export interface VigilCamera {
  id: string;
  url: string;
  segmentSeconds: number;
}

export interface VigilChild {
  readonly pid: number;
  /** http://127.0.0.1:port */
  readonly url: string;
  readonly dataDir: string;
  readonly dbPath: string;
  readonly entry: VigilEntry;
  /** When readyz first answered 200 (Date.now()), before the bench signed in. */
  readonly readyAtMs: number;
  api(path: string): Promise<Response>;
  /** Headers that authenticate as the signed-in admin, e.g. for a WebSocket upgrade (cookie and same Origin). */
  readonly headers: Record<string, string>;
  exited(): boolean;
  stop(): Promise<void>;
}

export interface VigilEntry {
  kind: 'dist' | 'tsx';
  args: string[];
  note: string;
}

let entryCache: VigilEntry | undefined;

/**
 * How the child Vigil runs: dist/cli/main.js (what `npm start` runs, with the same Node flags) when built, else src/ through
 * tsx. A dist/ older than src/ is still used (the note says so); `--tsx` forces src/.
 */
export function vigilEntry(forceTsx = false): VigilEntry {
  if (entryCache) return entryCache;
  const dist = join(REPO_ROOT, 'dist', 'cli', 'main.js');
  // Resolved here: the child runs in a temp dir, where a bare `--import tsx` would not be found.
  const tsx: VigilEntry = { kind: 'tsx', args: [...VIGIL_NODE_FLAGS, '--import', import.meta.resolve('tsx'), join(REPO_ROOT, 'src', 'cli', 'main.ts')], note: '' };
  if (forceTsx) entryCache = { ...tsx, note: 'forced by --tsx' };
  else if (!existsSync(dist)) entryCache = { ...tsx, note: 'dist/ not built; run npm run build' };
  else {
    const stale = newestMtime(join(REPO_ROOT, 'src')) > statSync(dist).mtimeMs;
    entryCache = { kind: 'dist', args: [...VIGIL_NODE_FLAGS, dist], note: stale ? 'dist/ is older than src/; run npm run build' : '' };
  }
  return entryCache;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.ts') || e.name.endsWith('.test.ts')) continue;
    const parent = e.parentPath ?? (e as unknown as { path: string }).path;
    newest = Math.max(newest, statSync(join(parent, e.name)).mtimeMs);
  }
  return newest;
}

/** Starts `vigil serve` as a child process (log at info to a file in `workDir`) and waits for readyz. */
export async function startVigilChild(
  workDir: string,
  cameras: VigilCamera[],
  entry: VigilEntry,
  /** `config`: more of the config file (a cluster's catalog and node); `adminPasswordFile`: where the first admin's password is (another node's data dir); `port`: listen here. */
  opts: { config?: Record<string, unknown>; adminPasswordFile?: string; port?: number } = {},
): Promise<VigilChild> {
  const dataDir = join(workDir, 'data');
  const configPath = join(workDir, 'vigil.yml');
  const logPath = join(workDir, 'vigil.log');
  const port = opts.port ?? (await freePort());
  writeFileSync(
    configPath,
    stringify({
      demo: false,
      listen: `127.0.0.1:${port}`,
      log_level: 'info',
      cameras: cameras.map((c) => ({ id: c.id, main_url: c.url, segment_seconds: c.segmentSeconds })),
      ...opts.config,
    }),
  );
  const logFd = openSync(logPath, 'a');
  // Flags win over VIGIL_* variables the caller's environment may hold.
  const argv = [process.execPath, ...entry.args, 'serve', '--config', configPath, '--data', dataDir, '--listen', `127.0.0.1:${port}`];
  // Own process group, so a Ctrl-C reaches only the bench, which stops Vigil in order; pdeathsig ends
  // Vigil (and through its own pdeathsig, its ffmpegs) should the bench be killed outright.
  const full = existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'TERM', '--', ...argv] : argv;
  const child = spawn(full[0] as string, full.slice(1), {
    cwd: workDir,
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: { ...process.env, VIGIL_LOG_LEVEL: 'info' },
  });
  closeSync(logFd);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = defer(`vigil ${child.pid ?? '?'}`, () => endChild(child, exited, 'SIGTERM', 20_000));
  const url = `http://127.0.0.1:${port}`;
  const isExited = () => child.exitCode !== null || child.signalCode !== null;
  let cookie = '';
  let readyAtMs = 0;
  const logTail = () => {
    try {
      return readFileSync(logPath, 'utf8').slice(-2000);
    } catch {
      return '';
    }
  };
  try {
    const outcome = await waitUntil(
      'Vigil readyz',
      async () => {
        if (isExited()) return 'exited';
        const res = await fetch(`${url}/api/v1/readyz`).catch(() => undefined);
        return res?.ok ? 'ready' : undefined;
      },
      60_000,
      20,
    );
    if (outcome === 'exited') throw new Error(`vigil exited before ready (code ${child.exitCode ?? 'null'}):\n${logTail()}`);
    readyAtMs = Date.now();
    // No user existed, so Vigil generated the first admin; sign in with its password.
    const password = readFileSync(opts.adminPasswordFile ?? join(dataDir, 'initial-admin-password'), 'utf8').trim();
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password }),
    });
    if (!login.ok) throw new Error(`sign-in to the child Vigil failed: ${login.status} ${await login.text()}`);
    cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    pid: child.pid ?? -1,
    url,
    dataDir,
    dbPath: join(dataDir, 'vigil.db'),
    entry,
    readyAtMs,
    api: (path) => fetch(`${url}/api/v1${path}`, { headers: { cookie } }),
    headers: { cookie, origin: url },
    exited: isExited,
    stop: async () => {
      await stop();
      await sleep(0);
    },
  };
}
