import type { Readable } from 'node:stream';
import { spawnSupervised, type ExitInfo } from './child.js';

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

export const spawnMediaJob: MediaJobLauncher = (program, args, opts = {}) => {
  const { child, exited, signal } = spawnSupervised(program, args, [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']);
  if (opts.stdin !== undefined && child.stdin) {
    // ffmpeg may exit before reading all of it (EPIPE); its exit status tells what went wrong.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.stdin);
  }
  return {
    pid: child.pid ?? -1,
    stdout: child.stdout as Readable,
    exited,
    kill() {
      signal('SIGKILL');
      return exited;
    },
  };
};
