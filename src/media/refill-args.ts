import { QUIET_ARGS, rtspInputArgs, VIDEO_TRACK_TIMESCALE } from './ffmpeg-common-args.js';

export interface RefillArgsInput {
  /** The rendered replay URL, one argv element whatever it contains. */
  url: string;
  /** Absolute path of the temporary output file. */
  outputPath: string;
  /** Media length to pull; the edge stream is cut there even if the camera sends more. */
  durationSeconds: number;
  /** RTSP socket I/O timeout. */
  socketTimeoutSeconds: number;
}

/**
 * argv (without the program) for pulling a span from a camera's edge storage: RTSP over TCP, stream
 * copy of the first video stream, one fragmented MP4 (each fragment reaches the file as it ends).
 */
export function buildRefillArgs(i: RefillArgsInput): string[] {
  return [
    ...QUIET_ARGS,
    ...rtspInputArgs(i.url, i.socketTimeoutSeconds),
    '-map', '0:v:0',
    '-c', 'copy',
    '-t', String(i.durationSeconds),
    '-f', 'mp4',
    '-movflags', '+frag_keyframe+empty_moov+default_base_moof',
    // The live segments' timescale: edge and live footage join into one clip.
    '-video_track_timescale', String(VIDEO_TRACK_TIMESCALE),
    '-flush_packets', '1',
    '-y',
    i.outputPath,
  ];
}
