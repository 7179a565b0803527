/**
 * The HLS VOD playlist over stored segment files (pure: no I/O). Every file is a standalone
 * fragmented MP4, so each one is addressed twice by byte range: its ftyp+moov as EXT-X-MAP and the
 * rest (moof/mdat pairs) as the media segment. Nothing is transcoded or rewritten.
 */
import type { SegmentSource } from '../db/schema.js';

export interface PlaylistSegment {
  id: number;
  /** Wall-clock start (UTC ms) and media duration, from the catalog row. */
  startMs: number;
  durationMs: number;
  /** Bytes of the file; the media part is [initLengthBytes, fileSizeBytes), or [mediaStartByte, mediaEndByte). */
  fileSizeBytes: number;
  initLengthBytes: number;
  /**
   * The whole fragments of the file that are this segment's own, when the file holds footage before
   * its row's start or after its end (`media_offset_ms`, an edge refill): `startMs`/`durationMs` are
   * then those fragments' instants, so the player neither replays nor shifts footage.
   */
  mediaStartByte?: number;
  mediaEndByte?: number;
  /** Decode time (ms) the file's first fragment starts at; undefined when unknown. */
  firstDecodeMs: number | undefined;
  /** The recorder run that wrote the file (from its name); undefined when the name carries none. */
  runId: string | undefined;
  source: SegmentSource;
  /** The file's URI when it is not a catalog segment's (a file still growing: see `parts`). */
  uri?: string;
  /**
   * The media listed fragment by fragment instead of as one range: a file that still grows (or awaits
   * its row), whose whole fragments so far are playable, each placed at its own wall-clock start.
   */
  parts?: Array<{ startByte: number; endByte: number; startMs: number; durationMs: number }>;
}

export interface PlaylistOptions {
  /** URI of a segment's file, relative to the playlist's own URL. */
  mediaUri: (segmentId: number) => string;
  /** Wall-clock instant playback should start at (EXT-X-START), when after the first segment's start. */
  startAtMs?: number;
}

/** A wall-clock hole longer than this between two files is a jump the player must be told of. */
export const CONTINUITY_GAP_MS = 500;
/** Timestamps of consecutive files of one stream continue within this (ms rounding of row durations). */
export const CONTINUITY_MEDIA_MS = 100;

/**
 * Whether `next` plays on directly from `prev` without EXT-X-DISCONTINUITY: same recorder run, not
 * refilled from edge storage, no wall-clock hole over 0.5 s, and timestamps that continue (RFC 8216
 * §4.3.2.3 requires the tag when the timestamp sequence changes — the recorder's files each restart
 * their media time at 0, so in practice every file boundary is one).
 */
export function continues(prev: PlaylistSegment, next: PlaylistSegment): boolean {
  if (next.source === 'edge' || prev.source === 'edge') return false;
  if (prev.runId === undefined || prev.runId !== next.runId) return false;
  if (next.startMs - (prev.startMs + prev.durationMs) > CONTINUITY_GAP_MS) return false;
  if (prev.firstDecodeMs === undefined || next.firstDecodeMs === undefined) return false;
  return Math.abs(next.firstDecodeMs - (prev.firstDecodeMs + prev.durationMs)) <= CONTINUITY_MEDIA_MS;
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/** The playlist text for `segments` (oldest first; each with media bytes after its init segment). */
export function buildPlaylist(segments: readonly PlaylistSegment[], opts: PlaylistOptions): string {
  // EXTINF rounded to the nearest integer must not exceed the target duration (RFC 8216 §4.3.3.1).
  const durations = segments.flatMap((s) => (s.parts ? s.parts.map((p) => p.durationMs) : [s.durationMs]));
  const target = Math.max(1, ...durations.map((ms) => Math.round(ms / 1000)));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${target}`,
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-INDEPENDENT-SEGMENTS',
  ];
  const first = segments[0];
  if (first && opts.startAtMs !== undefined && opts.startAtMs > first.startMs) {
    lines.push(`#EXT-X-START:TIME-OFFSET=${seconds(opts.startAtMs - first.startMs)},PRECISE=YES`);
  }
  let prev: PlaylistSegment | undefined;
  for (const s of segments) {
    if (prev && !continues(prev, s)) lines.push('#EXT-X-DISCONTINUITY');
    const uri = s.uri ?? opts.mediaUri(s.id);
    if (s.parts) {
      lines.push(`#EXT-X-MAP:URI="${uri}",BYTERANGE="${s.initLengthBytes}@0"`);
      for (const p of s.parts) {
        lines.push(
          `#EXT-X-PROGRAM-DATE-TIME:${new Date(p.startMs).toISOString()}`,
          `#EXTINF:${seconds(p.durationMs)},`,
          `#EXT-X-BYTERANGE:${p.endByte - p.startByte}@${p.startByte}`,
          uri,
        );
      }
      prev = s;
      continue;
    }
    lines.push(
      `#EXT-X-MAP:URI="${uri}",BYTERANGE="${s.initLengthBytes}@0"`,
      `#EXT-X-PROGRAM-DATE-TIME:${new Date(s.startMs).toISOString()}`,
      `#EXTINF:${seconds(s.durationMs)},`,
      `#EXT-X-BYTERANGE:${(s.mediaEndByte ?? s.fileSizeBytes) - (s.mediaStartByte ?? s.initLengthBytes)}@${s.mediaStartByte ?? s.initLengthBytes}`,
      uri,
    );
    prev = s;
  }
  lines.push('#EXT-X-ENDLIST');
  return `${lines.join('\n')}\n`;
}
