import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { ExitInfo } from './ffmpeg-process.js';

/** One short-lived ffmpeg reading footage for a client (a clip or a snapshot): output on stdout. */
export interface MediaJobProcess {
  readonly pid: number;
  readonly stdout: Readable;
  /** Resolves once the process is gone and its pipes are drained (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** SIGKILL at once; resolves when the process is gone (awaited, so no zombie is left). */
  kill(): Promise<ExitInfo>;
}

/** How export services start ffmpeg; `stdin` is written to the process and closed. */
export type MediaJobLauncher = (program: string, args: string[], opts?: { stdin?: string }) => MediaJobProcess;

const STDERR_TAIL_BYTES = 4096;
/** As for recorders: the job dies with Vigil even on kill -9 (util-linux `setpriv --pdeathsig KILL`). */
const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);

export const spawnMediaJob: MediaJobLauncher = (program, args, opts = {}) => {
  const argv = hasSetpriv ? [SETPRIV, '--pdeathsig', 'KILL', '--', program, ...args] : [program, ...args];
  const child = spawn(argv[0] as string, argv.slice(1), {
    detached: true,
    stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-STDERR_TAIL_BYTES);
  });
  if (opts.stdin !== undefined && child.stdin) {
    // ffmpeg may exit before reading all of it (EPIPE); its exit status tells what went wrong.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.stdin);
  }
  let spawnError: Error | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('error', (err) => {
      spawnError = err;
      if (child.pid === undefined) resolve({ code: null, signal: null, stderrTail: `failed to start ffmpeg: ${err.message}` });
    });
    child.once('close', (code, signal) => {
      resolve({ code, signal, stderrTail: spawnError ? `failed to start ffmpeg: ${spawnError.message}` : tail });
    });
  });
  return {
    pid: child.pid ?? -1,
    stdout: child.stdout as Readable,
    exited,
    kill() {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          child.kill('SIGKILL');
        } catch {
          /* already gone */
        }
      }
      return exited;
    },
  };
};
