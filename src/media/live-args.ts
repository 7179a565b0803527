/**
 * ffmpeg argv for live viewing: the fragmented-MP4 output that Media Source Extensions accept, added
 * to the recorder's ffmpeg as a second output, and the on-demand sub-stream process.
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

/** Packets the recorder's live output may queue while Vigil is not reading it (~8 s at 15 fps). */
export const LIVE_QUEUE_PACKETS = 120;

/** Knobs of the recorder's live output (the defaults are what Vigil uses; the bench tries others). */
export interface LiveOutputTuning {
  fragmentUs?: number;
  queuePackets?: number;
  /** Flush the pipe after every packet instead of leaving it to the fragment's end. */
  flushPackets?: boolean;
}

/**
 * The live output as the recorder adds it: the same fMP4, but written through ffmpeg's `fifo` muxer, in
 * its own thread with a bounded queue that drops packets when full. A plain second output blocks the
 * whole process when its pipe is not read (Vigil's event loop paused, say) — and with it the
 * recording; behind the fifo, the segment files go on being written whatever the live pipe does.
 */
export function recorderLiveOutputArgs(target: string, t: LiveOutputTuning = {}): string[] {
  const formatOpts = [`movflags=+frag_keyframe+empty_moov+default_base_moof`, `frag_duration=${t.fragmentUs ?? LIVE_FRAGMENT_US}`];
  if (t.flushPackets ?? true) formatOpts.push('flush_packets=1');
  return [
    '-map', '0:v:0',
    '-c', 'copy',
    '-f', 'fifo',
    '-fifo_format', 'mp4',
    '-format_opts', formatOpts.join(':'),
    '-queue_size', String(t.queuePackets ?? LIVE_QUEUE_PACKETS),
    '-drop_pkts_on_overflow', '1',
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
