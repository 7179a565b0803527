/**
 * ffmpeg argv for a preview: footage a browser cannot decode (H.265) transcoded to a small H.264
 * stream it can, as fragmented MP4 on stdout. A preview is a viewing aid, never evidence: clips,
 * downloads and exports always carry the original stream.
 */
import type { Writable, Readable } from 'node:stream';
import { spawnSupervised, type ExitInfo } from './child.js';
import { QUIET_ARGS } from './ffmpeg-common-args.js';

/** Heights a preview may be asked for; the picture is only ever scaled down. */
export const PREVIEW_MIN_HEIGHT = 144;
export const PREVIEW_MAX_HEIGHT = 720;
export const PREVIEW_DEFAULT_HEIGHT = 360;

/**
 * Recorded footage is read at most this much faster than real time: the first frame comes at once,
 * and a client that buffers ahead does not make the transcode take a core for minutes.
 */
export const PREVIEW_READ_RATE = 2;

export interface PreviewArgsInput {
  /** `live`: the camera's fMP4 as the live view sends it, on stdin. `recorded`: an ffconcat list on stdin. */
  source: 'live' | 'recorded';
  /** Output height, taken down to an even one (even width kept to the aspect ratio); a smaller picture is left as it is. */
  height: number;
}

export function buildPreviewArgs(i: PreviewArgsInput): string[] {
  const input =
    i.source === 'live'
      ? // The live stream's init carries the parameters: no analysis wait before the first frame.
        ['-probesize', '32768', '-analyzeduration', '0', '-f', 'mp4', '-i', 'pipe:0']
      : // -copyts: frames before the first file's inpoint keep negative times, and the select drops them.
        ['-readrate', String(PREVIEW_READ_RATE), '-f', 'concat', '-safe', '0', '-protocol_whitelist', 'file,pipe', '-copyts', '-i', 'pipe:0'];
  const select = i.source === 'recorded' ? 'select=gte(t\\,0),setpts=PTS-STARTPTS,' : '';
  return [
    ...QUIET_ARGS,
    ...input,
    '-map', '0:v:0',
    '-an',
    // H.264 wants even dimensions: an odd height asked for (or an odd source) is taken one line less.
    '-vf', `${select}scale=-2:'2*trunc(min(${i.height},ih)/2)'`,
    '-c:v', 'libx264',
    '-preset', 'ultrafast',
    '-tune', 'zerolatency',
    // One encoder thread: a preview's CPU is bounded by its job slot, whatever the machine.
    '-threads', '1',
    '-pix_fmt', 'yuv420p',
    '-crf', '28',
    '-maxrate', '1M',
    '-bufsize', '2M',
    // A keyframe a second: each fragment is a second, so the first frame reaches the page within one.
    '-force_key_frames', 'expr:gte(t,n_forced*1)',
    '-movflags', '+frag_keyframe+empty_moov+default_base_moof',
    '-f', 'mp4',
    'pipe:1',
  ];
}

/** A running preview transcode: its input on stdin, the H.264 fMP4 on stdout. */
export interface PreviewProcess {
  readonly pid: number;
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly exited: Promise<ExitInfo>;
  /** SIGKILL at once; resolves when the process is gone. */
  kill(): Promise<ExitInfo>;
}

export type PreviewLauncher = (program: string, args: string[]) => PreviewProcess;

export const spawnPreview: PreviewLauncher = (program, args) => {
  const { child, exited, signal } = spawnSupervised(program, args, ['pipe', 'pipe', 'pipe']);
  // ffmpeg may exit before reading all of its input (EPIPE): its exit status tells what went wrong.
  child.stdin?.on('error', () => undefined);
  return {
    pid: child.pid ?? -1,
    stdin: child.stdin as Writable,
    stdout: child.stdout as Readable,
    exited,
    kill() {
      signal('SIGKILL');
      return exited;
    },
  };
};
