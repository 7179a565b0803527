/**
 * ffmpeg argv for the on-demand sub-stream process: the fragmented-MP4 output that Media Source
 * Extensions accept. (The main stream needs no ffmpeg of its own: it is read from the segment files.)
 */
import { QUIET_ARGS, rtspInputArgs } from './ffmpeg-common-args.js';

/**
 * Longest fragment in microseconds. Fragments are still cut at every keyframe; this also cuts inside
 * a GOP so a viewer sees frames every ~200 ms instead of once per GOP.
 */
export const LIVE_FRAGMENT_US = 200_000;

/**
 * Output options (after the input) for one live fMP4 stream of the first video stream, stream copy,
 * to `target` (e.g. `pipe:4`). MSE needs an init segment without samples (empty_moov), fragments
 * addressed from their own moof (default_base_moof), and each fragment flushed to the pipe at once.
 */
export function liveOutputArgs(target: string): string[] {
  return [
    '-map', '0:v:0',
    '-c', 'copy',
    '-f', 'mp4',
    '-movflags', '+frag_keyframe+empty_moov+default_base_moof',
    '-frag_duration', String(LIVE_FRAGMENT_US),
    '-flush_packets', '1',
    target,
  ];
}

export interface SubStreamArgsInput {
  /** The camera's sub-stream RTSP URL, one argv element whatever it contains. */
  url: string;
  socketTimeoutSeconds: number;
}

/** argv (without the program) for a sub-stream viewer feed: RTSP over TCP → live fMP4 on stdout, no files. */
export function buildSubStreamArgs(i: SubStreamArgsInput): string[] {
  return [
    ...QUIET_ARGS,
    ...rtspInputArgs(i.url, i.socketTimeoutSeconds),
    ...liveOutputArgs('pipe:1'),
  ];
}
