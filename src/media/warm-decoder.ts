import type { Readable, Writable } from 'node:stream';
import { spawnSupervised } from './child.js';
import type { MediaJobProcess } from './ffmpeg-job.js';

/** An ffmpeg started ahead of need, idle on its stdin until a request writes its input there. */
export interface WarmDecoderProcess extends MediaJobProcess {
  readonly stdin: Writable;
}

export type WarmDecoderLauncher = (program: string, args: string[]) => WarmDecoderProcess;

export const spawnWarmDecoder: WarmDecoderLauncher = (program, args) => {
  const { child, exited, signal } = spawnSupervised(program, args, ['pipe', 'pipe', 'pipe']);
  const stdin = child.stdin as Writable;
  // ffmpeg may exit before reading all of its input (EPIPE); its exit status tells what went wrong.
  stdin.on('error', () => undefined);
  return {
    pid: child.pid ?? -1,
    stdin,
    stdout: child.stdout as Readable,
    exited,
    kill() {
      signal('SIGKILL');
      return exited;
    },
  };
};
