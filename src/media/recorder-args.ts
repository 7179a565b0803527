import { join } from 'node:path';
import { QUIET_ARGS, rtspInputArgs, VIDEO_TRACK_TIMESCALE } from './ffmpeg-common-args.js';
import type { VideoCodecFamily } from './video-codec.js';

/**
 * Longest fragment of a segment file, µs. Every keyframe still starts a fragment (`frag_keyframe`), and
 * a GOP is cut into fragments of at most this, so a viewer reading the growing file (live view, the
 * open segment's playlist) is at most this behind the camera instead of a whole GOP.
 * Fragments after the first of a GOP start on a frame that is not a keyframe: the readers that start
 * a decoder (clip join, snapshot, playback, live) start at a keyframe fragment.
 */
export const RECORD_FRAGMENT_US = 500_000;

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
  /**
   * What becomes of the camera's first audio stream (default `off`: not recorded). See `RecorderAudio`;
   * with any other than `off` the camera is known or assumed to send audio, so the quick probe reads
   * until both streams are described (QUICK_PROBE_WITH_AUDIO_ARGS).
   */
  audio?: RecorderAudio;
  /**
   * Drop the stream's access unit delimiters (`audFilter`). Default true; false for a camera whose
   * parameter sets the filter cannot read (`AUD_FILTER_FAILED`), which records as before.
   */
  dropAud?: boolean;
}

/**
 * Access unit delimiters, taken out of the video as it is copied (H.264 NAL type 9, H.265 type 35;
 * an unknown codec is taken for H.264, as the recorder does for the sample entry, and a run that finds
 * H.265 in its first file restarts within a second: until then H.265's type 9, a leading picture of an
 * open GOP with B-frames, which cameras rarely send, would be dropped). MP4 does not need them (each
 * sample is one access unit). They matter at the end of a run: a camera that stops sending while connected (frozen, or gone with the
 * socket left open) leaves the next frame's delimiter in ffmpeg's parser, which flushes it when the
 * run ends as a sample of its own with no picture in it ("missing picture in access unit with size
 * 6"). Chrome's decoder refuses that sample (PIPELINE_ERROR_DECODE), so the recorded player and the
 * live view stopped on it at the end of every such run. The filter also drops a packet it leaves empty,
 * so the sample is never written. It only splits the NAL units (none is parsed), at no measurable cost.
 */
export function audFilter(codec: VideoCodecFamily | undefined): string {
  return `filter_units=remove_types=${codec === 'h265' ? 35 : 9}`;
}

/**
 * What ffmpeg says when the delimiter filter cannot start: it reads the stream's parameter sets from
 * the SDP (the extradata) and refuses ones it cannot split. The next run records without it.
 */
export const AUD_FILTER_FAILED = /Error initializing bitstream filter: filter_units|Failed to (?:read|write) extradata/;

/**
 * The camera's audio in the segment files: `off` (video only, the camera's `audio: off`), `copy`
 * (stream copy: AAC, which MP4 takes as sent), `aac` (decoded and encoded to AAC: G.711 µ-law/A-law,
 * PCM and the other codecs the MP4 muxer refuses) or `none` (video only: the camera sends audio that
 * could be neither copied nor transcoded). The video is a stream copy in every case. A camera that
 * sends no audio records video only with `copy` and `aac` alike (the audio map is optional).
 */
export type RecorderAudio = 'off' | 'copy' | 'aac' | 'none';

/**
 * With audio, the quick probe reads until both streams are described instead of stopping at the first
 * packet: with `-probesize 32` ffmpeg stops after one packet, and when that is an audio packet the
 * video is left without its picture size ("unspecified size", the run fails). Bounded by the same
 * 0.1 s of media as the video-only quick probe; the packets read are written, not dropped.
 */
export const QUICK_PROBE_WITH_AUDIO_ARGS: readonly string[] = ['-probesize', '5000000', '-analyzeduration', '100000'];

/** Bit rate of the AAC that transcoded audio becomes: speech from a camera microphone, 8–16 kHz mono. */
export const AUDIO_AAC_BITRATE = '32k';

/**
 * The longest a packet of one stream waits in the muxer for the other stream's (µs). The default, 10 s,
 * would hold the video back 10 s whenever a camera's audio stops (its packets dropped or garbled, the
 * microphone gone): the live view 10 s late and the footage written in bursts. Audio and video from one
 * camera arrive interleaved in real time, so half a second is slack enough.
 */
export const MAX_INTERLEAVE_DELTA_US = 500_000;

/**
 * What ffmpeg says when it cannot record the camera's audio as the run asked: the MP4 muxer refuses
 * the codec as sent (`Could not find tag for codec pcm_mulaw in stream #1`: output stream 1 is the
 * audio, the video being mapped first), no decoder knows it (`Decoder (codec none) not found`: the
 * video is never decoded), or the AAC encoder cannot be opened for it.
 */
export const AUDIO_REFUSED = /Could not find tag for codec \S+ in stream #1\b|Decoder \(codec [^)]*\) not found for input stream|Error while opening encoder for output stream #0:1\b/;

/**
 * The audio handling for the next run after a run that ended with `stderr`: from a stream copy the
 * MP4 muxer refused to a transcode to AAC, from a transcode that failed to video only; undefined when
 * the run did not fail on its audio.
 */
export function nextAudioAfterRefusal(current: RecorderAudio, stderr: string): { next: RecorderAudio; codec: string | undefined } | undefined {
  if (current === 'off' || current === 'none' || !AUDIO_REFUSED.test(stderr)) return undefined;
  const codec = /Could not find tag for codec (\S+) in stream #1\b/.exec(stderr)?.[1] ?? /Decoder \(codec ([^)]*)\) not found/.exec(stderr)?.[1];
  return { next: current === 'copy' ? 'aac' : 'none', codec };
}

/** fd numbers of the extra pipes the recorder's ffmpeg writes to (see `spawnFfmpeg`). */
export const SEGMENT_LIST_FD = 1;
export const PROGRESS_FD = 3;

/**
 * argv (without the program) for recording one camera: RTSP over TCP, stream copy of the first video
 * stream (and its first audio stream, copied or transcoded to AAC, per `audio`), fragmented-MP4 segment files, the segment list (one CSV line per closed file) on stdout and
 * progress (media time as it is muxed) on fd 3 (a file Vigil reads on its quarter-second tick, `ProgressFile`). Nothing else: the live view reads the segment files
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
  const audio = i.audio ?? 'off';
  const input = rtspInputArgs(i.url, i.socketTimeoutSeconds, (i.quickProbe ?? false) && audio === 'off');
  if (i.quickProbe && audio !== 'off') input.splice(input.length - 2, 0, ...QUICK_PROBE_WITH_AUDIO_ARGS);
  return [
    ...QUIET_ARGS,
    '-progress', `pipe:${PROGRESS_FD}`,
    // Twice a second: the first report (the camera marked recording) comes sooner after a start, and
    // the time mapping gets more bounds; parsing 2 short blocks a second per camera costs nothing.
    '-stats_period', '0.5',
    ...input,
    ...audioOutputArgs(audio),
    ...(i.videoCodec === 'h265' ? ['-tag:v', 'hvc1'] : []),
    ...(i.dropAud ?? true ? ['-bsf:v', audFilter(i.videoCodec)] : []),
    '-f', 'segment',
    '-segment_time', String(i.segmentSeconds),
    '-segment_format', 'mp4',
    // Fragments of at most RECORD_FRAGMENT_US (and one at every keyframe); flush_packets=1: each fragment
    // reaches the file as soon as it ends, so live view and the newest reviewable footage lag it by
    // that much, and a crash loses at most that much (the segment muxer does not pass the global
    // -flush_packets on to the files it opens).
    '-segment_format_options', `movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration=${RECORD_FRAGMENT_US}:flush_packets=1:video_track_timescale=${VIDEO_TRACK_TIMESCALE}`,
    '-segment_list', `pipe:${SEGMENT_LIST_FD}`,
    '-segment_list_type', 'csv',
    '-segment_list_flags', 'live',
    pattern,
  ];
}

/**
 * The maps and codecs of the segment output. `off` and `none`: the first video stream alone (G.711,
 * which many cameras send, would otherwise make the MP4 muxer refuse the whole run). Else the first audio stream
 * too, optional (`?`: a camera without audio records video), and a short interleave wait
 * (MAX_INTERLEAVE_DELTA_US) so audio that stops never holds the video back.
 */
function audioOutputArgs(audio: RecorderAudio): string[] {
  if (audio === 'off' || audio === 'none') return ['-map', '0:v:0', '-c', 'copy'];
  return [
    '-map', '0:v:0',
    '-map', '0:a:0?',
    '-c:v', 'copy',
    // aresample=async=1 keeps transcoded audio's timestamps continuous across packets the camera did not
    // send (silence in their place): without it, audio resuming after a drop came poorly interleaved and
    // ffmpeg's MP4 muxer aborted (assertion next_dts >= 0, SIGABRT: a restart and a 2.3 s gap).
    ...(audio === 'copy' ? ['-c:a', 'copy'] : ['-af', 'aresample=async=1', '-c:a', 'aac', '-b:a', AUDIO_AAC_BITRATE]),
    '-max_interleave_delta', String(MAX_INTERLEAVE_DELTA_US),
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
