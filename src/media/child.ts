import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Last lines ffmpeg printed on stderr (not yet redacted). */
  stderrTail: string;
}

export interface Supervised {
  child: ChildProcess;
  /** Resolves once the process is gone and its pipes are drained (never rejects). */
  exited: Promise<ExitInfo>;
  /** Sends a signal unless the process is already gone. */
  signal(sig: NodeJS.Signals): void;
}

const STDERR_TAIL_BYTES = 4096;
/** util-linux `setpriv --pdeathsig KILL`: the child dies with Vigil even on kill -9, so no orphan keeps writing. */
const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);

/**
 * Spawns ffmpeg (argv, never a shell) in its own process group — a Ctrl-C in the terminal reaches
 * Vigil, which stops children in order — keeping the tail of its stderr. `exited` follows 'close',
 * not 'exit', so every pipe is drained (e.g. the last segment-list line) before it resolves.
 */
export function spawnSupervised(program: string, args: string[], stdio: StdioOptions, env?: NodeJS.ProcessEnv): Supervised {
  const argv = hasSetpriv ? [SETPRIV, '--pdeathsig', 'KILL', '--', program, ...args] : [program, ...args];
  const child = spawn(argv[0] as string, argv.slice(1), { detached: true, stdio, ...(env ? { env } : {}) });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-STDERR_TAIL_BYTES);
  });
  let spawnError: Error | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('error', (err) => {
      spawnError = err;
      // 'close' normally follows a failed spawn; resolve here too in case it does not.
      if (child.pid === undefined) resolve({ code: null, signal: null, stderrTail: `failed to start ffmpeg: ${err.message}` });
    });
    child.once('close', (code, signal) => {
      resolve({ code, signal, stderrTail: spawnError ? `failed to start ffmpeg: ${spawnError.message}` : tail });
    });
  });
  const signal = (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill(sig);
      } catch {
        /* already gone */
      }
    }
  };
  return { child, exited, signal };
}
