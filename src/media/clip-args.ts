/**
 * ffmpeg argv and concat list for a clip: the segment files of a range joined by the concat demuxer
 * and remuxed (stream copy, never transcoded) into one fragmented MP4 written to stdout.
 */
import type { VideoCodecFamily } from './video-codec.js';

export interface ClipPart {
  /** Absolute path of a segment file (already checked to lie inside the recordings folder). */
  absPath: string;
  /** Where the clip starts inside this file (seconds of the file's media time); omitted = its start. */
  inpointSeconds?: number;
  /** Where the clip ends inside this file; omitted = its end. */
  outpointSeconds?: number;
  /**
   * Fragments of the file that start with a keyframe, from its catalog row (`keyframe_fragments`):
   * lets a clip joined in Node plan a file it takes whole from the file's ends (`clip-join-plan.ts`).
   */
  keyframeFragments?: number;
}

/**
 * Fragmented MP4 so bytes flow at once on a pipe. `delay_moov` writes the moov after the first
 * fragment is known, which lets the muxer add an edit list that skips the frames between the
 * previous keyframe and the requested instant (with `empty_moov` alone it writes no edit list
 * and shifts those frames to time 0 instead).
 */
export const CLIP_MOVFLAGS = '+frag_keyframe+empty_moov+delay_moov+default_base_moof';

/**
 * argv (without the program). The concat list is read from stdin; it may name files only (the
 * protocol whitelist refuses anything else a list could point at). `-copyts` keeps the negative
 * timestamps the concat demuxer gives the frames before the first file's inpoint, which is what
 * the edit list is made from.
 */
export function buildClipArgs(opts: { videoCodec?: VideoCodecFamily | undefined } = {}): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-loglevel', 'level+warning',
    // Without it ffmpeg treats a file it cannot read mid-clip as the end and exits 0: the client
    // would get a clip that looks complete but stops early. With it, the exit status says so.
    '-xerror',
    '-f', 'concat',
    '-safe', '0',
    '-protocol_whitelist', 'file,pipe',
    // The default, stated: each file's SPS/PPS travel in-band, so a clip spanning a change of the
    // camera's resolution stays decodable (with 0 the later files decode as garbage). Costs ~10 %.
    '-auto_convert', '1',
    '-copyts',
    '-i', 'pipe:0',
    // The recorder keeps the first video stream and, when the camera sends it, its audio; so does the
    // clip (the audio map is optional: video-only footage makes a video-only clip).
    '-map', '0:v:0',
    '-map', '0:a:0?',
    '-c', 'copy',
    // H.265 footage keeps its hvc1 sample entry (ffmpeg's mp4 muxer would write hev1).
    ...(opts.videoCodec === 'h265' ? ['-tag:v', 'hvc1'] : []),
    '-movflags', CLIP_MOVFLAGS,
    '-f', 'mp4',
    'pipe:1',
  ];
}

/** The ffconcat script for `parts`, in order: one `file` directive per part, each path quoted. */
export function buildConcatList(parts: readonly ClipPart[]): string {
  const lines = ['ffconcat version 1.0'];
  for (const p of parts) {
    lines.push(`file ${quoteConcatPath(p.absPath)}`);
    if (p.inpointSeconds !== undefined) lines.push(`inpoint ${(concatCutMicros(p.inpointSeconds, 'inpoint') / 1e6).toFixed(6)}`);
    if (p.outpointSeconds !== undefined) lines.push(`outpoint ${(concatCutMicros(p.outpointSeconds, 'outpoint') / 1e6).toFixed(6)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `file:` + the absolute path in single quotes (a quote inside becomes '\'' as in a shell), so no
 * character of a path can end the directive or make ffmpeg read it as another protocol. A control
 * character (a newline would start a new directive) is refused outright.
 */
export function quoteConcatPath(absPath: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(absPath)) throw new Error(`segment path holds a control character: ${JSON.stringify(absPath)}`);
  if (!absPath.startsWith('/')) throw new Error(`segment path is not absolute: ${absPath}`);
  return `'file:${absPath.replace(/'/g, "'\\''")}'`;
}

/**
 * A concat-list cut as written, and read back by ffmpeg: whole microseconds (ffmpeg's resolution). An
 * inpoint is rounded up: it is often a keyframe's own time (clip-plan.ts), and rounded down, even by a
 * microsecond, it would lie before that keyframe, so ffmpeg would enter the file at the keyframe before,
 * a GOP early. An outpoint is rounded to nearest. The Node join reads cuts through this too.
 */
export function concatCutMicros(seconds: number, cut: 'inpoint' | 'outpoint'): number {
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`invalid time in concat list: ${seconds}`);
  const us = Number((seconds * 1e6).toPrecision(15));
  return cut === 'inpoint' ? Math.ceil(us) : Math.round(us);
}
