import { join } from 'node:path';
import { QUIET_ARGS, rtspInputArgs, VIDEO_TRACK_TIMESCALE } from './ffmpeg-common-args.js';
import type { VideoCodecFamily } from './video-codec.js';

export interface RecorderArgsInput {
  /** The camera's RTSP URL, passed to ffmpeg as one argv element whatever it contains. */
  url: string;
  /** Absolute folder the segment files go to (the footage store's camera folder). */
  outputDir: string;
  /** The names ffmpeg gives the files, with a `%06d` counter (the footage store's `openSegmentNamePattern`). */
  fileNamePattern: string;
  segmentSeconds: number;
  /** RTSP socket I/O timeout: a silent camera makes ffmpeg exit instead of hanging. */
  socketTimeoutSeconds: number;
  /** Start writing at the first packet, without ffmpeg's stream analysis (`QUICK_PROBE_ARGS`). */
  quickProbe?: boolean;
  /**
   * The codec the camera sends, as the recorder knows it: 'h265' writes the `hvc1` sample entry
   * (`-tag:v hvc1`, which ffmpeg refuses for any other codec); H.264 or unknown leaves ffmpeg's default.
   */
  videoCodec?: VideoCodecFamily | undefined;
}

/** fd numbers of the extra pipes the recorder's ffmpeg writes to (see `spawnFfmpeg`). */
export const SEGMENT_LIST_FD = 1;
export const PROGRESS_FD = 3;

/**
 * argv (without the program) for recording one camera: RTSP over TCP, stream copy of the first video
 * stream, fragmented-MP4 segment files, the segment list (one CSV line per closed file) on stdout and
 * progress (media time as it is muxed) on fd 3. Nothing else: the live view reads the segment files
 * as they grow (src/live/segment-follower.ts), so one camera connection and one output serve both.
 */
export function buildRecorderArgs(i: RecorderArgsInput): string[] {
  return buildSegmentRecorderArgs(i);
}

/** The recording alone: since the live view reads the files, the same as `buildRecorderArgs` (the bench's bare-ffmpeg baseline). */
export function buildSegmentRecorderArgs(i: RecorderArgsInput): string[] {
  // ffmpeg expands % in the whole path (%06d is the segment number); a literal % in the data dir must
  // not be read as a conversion.
  const pattern = join(i.outputDir.replace(/%/g, '%%'), i.fileNamePattern);
  return [
    ...QUIET_ARGS,
    '-progress', `pipe:${PROGRESS_FD}`,
    // Twice a second: the first report (the camera marked recording) comes sooner after a start, and
    // the time mapping gets more bounds; parsing 2 short blocks a second per camera costs nothing.
    '-stats_period', '0.5',
    ...rtspInputArgs(i.url, i.socketTimeoutSeconds, i.quickProbe ?? false),
    // Video only: many cameras send G.711 audio, which the MP4 muxer refuses and which would stop recording.
    '-map', '0:v:0',
    '-c', 'copy',
    ...(i.videoCodec === 'h265' ? ['-tag:v', 'hvc1'] : []),
    '-f', 'segment',
    '-segment_time', String(i.segmentSeconds),
    '-segment_format', 'mp4',
    // flush_packets=1: each fragment reaches the file as soon as it ends, so a crash loses at most one GOP
    // (the segment muxer does not pass the global -flush_packets on to the files it opens).
    '-segment_format_options', `movflags=+frag_keyframe+empty_moov+default_base_moof:flush_packets=1:video_track_timescale=${VIDEO_TRACK_TIMESCALE}`,
    '-segment_list', `pipe:${SEGMENT_LIST_FD}`,
    '-segment_list_type', 'csv',
    '-segment_list_flags', 'live',
    pattern,
  ];
}

export interface SegmentListEntry {
  fileName: string;
  /** Media time (seconds) of the file's first and last+1 frame, on the process's output timeline. */
  startSeconds: number;
  endSeconds: number;
}

/** One line of ffmpeg's CSV segment list: `file,start,end` (file quoted when it holds a comma). */
export function parseSegmentListLine(line: string): SegmentListEntry | undefined {
  const m = /^(?:"((?:[^"]|"")*)"|([^,]*)),(-?[\d.]+),(-?[\d.]+)\s*$/.exec(line);
  if (!m) return undefined;
  const fileName = m[1] !== undefined ? m[1].replace(/""/g, '"') : (m[2] as string);
  const startSeconds = Number(m[3]);
  const endSeconds = Number(m[4]);
  if (!fileName || !Number.isFinite(startSeconds) || !Number.isFinite(endSeconds)) return undefined;
  return { fileName, startSeconds, endSeconds };
}

/** Accumulates `-progress` key=value lines; returns the block when a `progress=` line ends it. */
export class ProgressParser {
  private block: Record<string, string> = {};

  push(line: string): { outTimeUs: number; frame: number; ended: boolean } | undefined {
    const eq = line.indexOf('=');
    if (eq <= 0) return undefined;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key !== 'progress') {
      this.block[key] = value;
      return undefined;
    }
    const b = this.block;
    this.block = {};
    const outTimeUs = Number(b['out_time_us'] ?? b['out_time_ms']);
    return {
      outTimeUs: Number.isFinite(outTimeUs) ? outTimeUs : NaN,
      frame: Number(b['frame'] ?? 0) || 0,
      ended: value === 'end',
    };
  }
}
