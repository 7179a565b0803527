import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { PROGRESS_FD, ProgressParser, SEGMENT_LIST_FD, parseSegmentListLine, type SegmentListEntry } from './recorder-args.js';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Last lines ffmpeg printed on stderr (not yet redacted). */
  stderrTail: string;
}

export interface RecorderHandlers {
  /** ffmpeg closed a segment file (the segment list's line); `wallMs` is when the line arrived. */
  onSegment(entry: SegmentListEntry, wallMs: number): void;
  /** Media time muxed so far, sampled at `wallMs`. */
  onProgress(outTimeUs: number, frame: number, wallMs: number): void;
}

export interface RecorderProcess {
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  /** SIGINT (ffmpeg closes the current segment and lists it), then SIGKILL after `timeoutMs`. */
  stop(timeoutMs: number): Promise<ExitInfo>;
  /** SIGKILL at once; resolves when the process is gone. */
  kill(): Promise<ExitInfo>;
}

/** How the recorder starts ffmpeg; tests of supervision logic can pass a fake. */
export type RecorderLauncher = (program: string, args: string[], handlers: RecorderHandlers, now: () => number) => RecorderProcess;

const STDERR_TAIL_BYTES = 4096;
/** util-linux `setpriv --pdeathsig KILL`: ffmpeg dies with Vigil even on kill -9, so no orphan keeps writing. */
const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);

export const spawnRecorder: RecorderLauncher = (program, args, handlers, now) => {
  const argv = hasSetpriv ? [SETPRIV, '--pdeathsig', 'KILL', '--', program, ...args] : [program, ...args];
  const child = spawn(argv[0] as string, argv.slice(1), {
    // Own process group: a Ctrl-C in the terminal reaches Vigil, which stops ffmpeg in order.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    // -strftime names files in local time; UTC makes the names UTC.
    env: { ...process.env, TZ: 'UTC' },
  });
  return wrap(child, handlers, now);
};

function wrap(child: ChildProcess, handlers: RecorderHandlers, now: () => number): RecorderProcess {
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-STDERR_TAIL_BYTES);
  });
  const listStream = child.stdio[SEGMENT_LIST_FD] as Readable | null;
  if (listStream) {
    createInterface({ input: listStream }).on('line', (line) => {
      const entry = parseSegmentListLine(line);
      if (entry) handlers.onSegment(entry, now());
    });
  }
  const progressStream = child.stdio[PROGRESS_FD] as Readable | null;
  if (progressStream) {
    const parser = new ProgressParser();
    createInterface({ input: progressStream }).on('line', (line) => {
      const p = parser.push(line);
      if (p && Number.isFinite(p.outTimeUs)) handlers.onProgress(p.outTimeUs, p.frame, now());
    });
  }
  let spawnError: Error | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('error', (err) => {
      spawnError = err;
      // 'close' still follows for a failed spawn in Node ≥ 16; make sure we resolve even if it does not.
      if (child.pid === undefined) resolve({ code: null, signal: null, stderrTail: `failed to start ffmpeg: ${err.message}` });
    });
    // 'close' (not 'exit') waits until every pipe is drained, so the last segment-list line is seen first.
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
  return {
    pid: child.pid ?? -1,
    exited,
    async stop(timeoutMs) {
      signal('SIGINT');
      const timer = setTimeout(() => signal('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    async kill() {
      signal('SIGKILL');
      return exited;
    },
  };
}
