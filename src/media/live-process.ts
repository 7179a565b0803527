import type { Readable } from 'node:stream';
import { spawnSupervised, type ExitInfo } from './child.js';

/** An ffmpeg writing a live fMP4 stream on stdout (the sub-stream feed; no files). */
export interface LiveStreamProcess {
  readonly pid: number;
  /** Resolves once the process is gone and stdout is drained (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** SIGKILL (it writes no file, so nothing is lost); resolves when the process is gone. */
  kill(): Promise<ExitInfo>;
}

/** `onData` gets stdout; `onFd3`, when given, a second output ffmpeg writes to `pipe:3`. */
export type LiveStreamLauncher = (program: string, args: string[], onData: (chunk: Buffer) => void, onFd3?: (chunk: Buffer) => void) => LiveStreamProcess;

export const spawnLiveStream: LiveStreamLauncher = (program, args, onData, onFd3) => {
  const { child, exited, signal } = spawnSupervised(program, args, onFd3 ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe']);
  // Always flowing: the stream is consumed as fast as ffmpeg writes it, viewers or not.
  (child.stdout as Readable).on('data', onData);
  if (onFd3) (child.stdio[3] as Readable).on('data', onFd3);
  return {
    pid: child.pid ?? -1,
    exited,
    kill() {
      signal('SIGKILL');
      return exited;
    },
  };
};
