import { spawnSupervised, type ExitInfo } from './child.js';
import type { Readable } from 'node:stream';
import { quarterSecondTick, SharedTick } from '../shared/shared-tick.js';
import { LineSplitter } from './lines.js';
import { ProgressFile } from './progress-file.js';
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

/** Calls `onLine` for each line of a pipe ffmpeg writes (its segment list), the last one even without a final newline. */
export function onLines(stream: Readable, onLine: (line: string) => void): void {
  const lines = new LineSplitter(onLine);
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => lines.push(chunk));
  stream.on('end', () => lines.end());
}

/** A graceful stop's second SIGINT, for an ffmpeg blocked on a silent input (see `stop`). */
const SECOND_SIGINT_MS = 300;

/**
 * Until a run's first report of media muxed, its progress file is also read at this faster tick (for at
 * most `FIRST_REPORT_WATCH_MS`): that report marks the camera recording, and the quarter-second tick
 * alone added up to 250 ms to every start (the restart figure: 16 cameras recording 2.94 s after a
 * kill -9 against 2.78 s with a pipe, docs/proof.md). One timer for every run starting at once.
 */
export const firstReportTick = new SharedTick(50);
const FIRST_REPORT_WATCH_MS = 3000;

export const spawnRecorder: RecorderLauncher = (program, args, handlers, now) => {
  const parser = new ProgressParser();
  let untilFirstReport: (() => void) | undefined;
  const onProgressLine = (line: string, wallMs: number) => {
    const p = parser.push(line);
    if (!p || !Number.isFinite(p.outTimeUs)) return;
    if (p.outTimeUs > 0) untilFirstReport?.();
    handlers.onProgress(p.outTimeUs, p.frame, wallMs);
  };
  // The reports go to a file read on the quarter-second tick (ProgressFile); where none can be made
  // (no writable temporary folder), to a pipe as before, each read as it comes.
  let progressFile: ProgressFile | undefined;
  try {
    progressFile = ProgressFile.create(onProgressLine, now);
  } catch {
    progressFile = undefined;
  }
  // -strftime names files in local time; UTC makes the names UTC.
  const { child, exited: closed, signal } = spawnSupervised(program, args, ['ignore', 'pipe', 'pipe', progressFile?.fd ?? 'pipe'], {
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
  let exited = closed;
  if (progressFile) {
    const file = progressFile;
    // Watching from the spawn on: a recorder's watchdog, which judges the reports, starts watching
    // after this and so runs after the read in each tick (SharedTick calls watchers in order).
    const unwatch = quarterSecondTick.watch(() => file.read());
    const startedMs = now();
    const unwatchFast = firstReportTick.watch(() => (now() - startedMs > FIRST_REPORT_WATCH_MS ? untilFirstReport?.() : file.read()));
    untilFirstReport = () => {
      unwatchFast();
      untilFirstReport = undefined;
    };
    exited = closed.then(async (info) => {
      unwatch();
      untilFirstReport?.();
      await file.close();
      return info;
    });
  } else {
    const progressStream = child.stdio[PROGRESS_FD] as Readable | null;
    if (progressStream) onLines(progressStream, (line) => onProgressLine(line, now()));
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
