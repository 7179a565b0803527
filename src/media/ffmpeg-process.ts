import { spawnSupervised, type ExitInfo } from './child.js';
import type { Readable } from 'node:stream';
import { PROGRESS_FD, ProgressParser, SEGMENT_LIST_FD, parseSegmentListLine, type SegmentListEntry } from './recorder-args.js';

export type { ExitInfo };

export interface RecorderHandlers {
  /** ffmpeg closed a segment file (the segment list's line); `wallMs` is when the line arrived. */
  onSegment(entry: SegmentListEntry, wallMs: number): void;
  /** Media time muxed so far, sampled at `wallMs`. */
  onProgress(outTimeUs: number, frame: number, wallMs: number): void;
}

export interface RecorderProcess {
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  /** SIGINT (ffmpeg closes the current segment and lists it; again after 300 ms), then SIGKILL after `timeoutMs`. */
  stop(timeoutMs: number): Promise<ExitInfo>;
  /** SIGKILL at once; resolves when the process is gone. */
  kill(): Promise<ExitInfo>;
}

/** How the recorder starts ffmpeg; tests of supervision logic can pass a fake. */
export type RecorderLauncher = (program: string, args: string[], handlers: RecorderHandlers, now: () => number) => RecorderProcess;

/**
 * Calls `onLine` for each line of a pipe ffmpeg writes (its segment list, its progress blocks), the
 * last one even without a final newline. Plain splitting of each chunk: readline's interface, made
 * for terminals, cost more than the parsing itself at two progress blocks a second per camera.
 */
export function onLines(stream: Readable, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
      const line = chunk.slice(start, nl);
      start = nl + 1;
      if (rest) {
        onLine((rest + line).replace(/\r$/, ''));
        rest = '';
      } else {
        onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
      }
    }
    rest += chunk.slice(start);
  });
  stream.on('end', () => {
    if (rest) onLine(rest.replace(/\r$/, ''));
    rest = '';
  });
}

/** A graceful stop's second SIGINT, for an ffmpeg blocked on a silent input (see `stop`). */
const SECOND_SIGINT_MS = 300;

export const spawnRecorder: RecorderLauncher = (program, args, handlers, now) => {
  // -strftime names files in local time; UTC makes the names UTC.
  const { child, exited, signal } = spawnSupervised(program, args, ['ignore', 'pipe', 'pipe', 'pipe'], {
    ...process.env,
    TZ: 'UTC',
  });
  const listStream = child.stdio[SEGMENT_LIST_FD] as Readable | null;
  if (listStream) {
    onLines(listStream, (line) => {
      const entry = parseSegmentListLine(line);
      if (entry) handlers.onSegment(entry, now());
    });
  }
  const progressStream = child.stdio[PROGRESS_FD] as Readable | null;
  if (progressStream) {
    const parser = new ProgressParser();
    onLines(progressStream, (line) => {
      const p = parser.push(line);
      if (p && Number.isFinite(p.outTimeUs)) handlers.onProgress(p.outTimeUs, p.frame, now());
    });
  }
  return {
    pid: child.pid ?? -1,
    exited,
    async stop(timeoutMs) {
      signal('SIGINT');
      // ffmpeg acts on a first SIGINT between packets; one blocked reading a silent camera only lets
      // a second one interrupt the read (its interrupt callback wants more signals than "running").
      // Either way it then closes the open segment at its last frame and lists it.
      const again = setTimeout(() => signal('SIGINT'), SECOND_SIGINT_MS);
      const timer = setTimeout(() => signal('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(again);
        clearTimeout(timer);
      }
    },
    async kill() {
      signal('SIGKILL');
      return exited;
    },
  };
};
