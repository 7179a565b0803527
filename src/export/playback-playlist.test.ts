import { describe, expect, it } from 'vitest';
import { buildPlaylist, continues, type PlaylistSegment } from './playback-playlist.js';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const uri = (id: number) => `../../segments/${id}/media.mp4`;

/** A run of files whose timestamps continue one another (as a recorder without per-file resets writes). */
function run(firstId: number, startMs: number, durations: number[], runId: string, firstDecodeMs = 0): PlaylistSegment[] {
  let at = startMs;
  let decode = firstDecodeMs;
  return durations.map((durationMs, i) => {
    const s: PlaylistSegment = {
      id: firstId + i,
      startMs: at,
      durationMs,
      fileSizeBytes: 100_000 + i,
      initLengthBytes: 885,
      firstDecodeMs: decode,
      runId,
      source: 'live',
    };
    at += durationMs;
    decode += durationMs;
    return s;
  });
}

/** Playlist lines per segment: the tags before each URI, and the URI. */
function entries(text: string): Array<{ tags: string[]; uri: string }> {
  const lines = text.trim().split('\n');
  const out: Array<{ tags: string[]; uri: string }> = [];
  let tags: string[] = [];
  for (const line of lines.slice(lines.indexOf('#EXT-X-INDEPENDENT-SEGMENTS') + 1)) {
    if (line.startsWith('#')) tags.push(line);
    else {
      out.push({ tags, uri: line });
      tags = [];
    }
  }
  return out;
}

describe('buildPlaylist', () => {
  it('writes a VOD header, one init map and one media byte range per file, and the end', () => {
    const segs = run(1, T0, [2000, 2000, 1467], 'abc');
    const text = buildPlaylist(segs, { mediaUri: uri });
    const lines = text.split('\n');
    expect(lines.slice(0, 6)).toEqual([
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-PLAYLIST-TYPE:VOD',
      '#EXT-X-MEDIA-SEQUENCE:0',
      '#EXT-X-INDEPENDENT-SEGMENTS',
    ]);
    expect(text.endsWith('#EXT-X-ENDLIST\n')).toBe(true);
    const e = entries(text);
    expect(e.map((x) => x.uri)).toEqual([uri(1), uri(2), uri(3)]);
    expect(e[1]?.tags).toEqual([
      `#EXT-X-MAP:URI="${uri(2)}",BYTERANGE="885@0"`,
      '#EXT-X-PROGRAM-DATE-TIME:2026-11-25T10:00:02.000Z',
      '#EXTINF:2.000,',
      `#EXT-X-BYTERANGE:${100_001 - 885}@885`,
    ]);
    expect(e[2]?.tags).toContain('#EXTINF:1.467,');
    expect(text).not.toContain('#EXT-X-DISCONTINUITY');
    expect(text).not.toContain('#EXT-X-START');
  });

  it('marks a discontinuity at a wall-clock hole over 0.5 s, a new run, an edge refill, and a timestamp reset', () => {
    const a = run(1, T0, [2000, 2000], 'run1');
    const afterSmallHole = run(3, T0 + 4400, [2000], 'run1', 4000); // 0.4 s late, same run and timeline: continues
    const afterHole = run(4, T0 + 10_000, [2000], 'run1', 6000); // 3.6 s hole
    const newRun = run(5, T0 + 12_000, [2000], 'run2', 0);
    const edge = { ...run(6, T0 + 14_000, [2000], 'run2', 2000)[0]!, source: 'edge' as const };
    const afterEdge = run(7, T0 + 16_000, [2000], 'run2', 4000);
    const reset = run(8, T0 + 18_000, [2000], 'run2', 0); // contiguous in wall time, but media time restarts
    const text = buildPlaylist([...a, ...afterSmallHole, ...afterHole, ...newRun, edge, ...afterEdge, ...reset], { mediaUri: uri });
    const disc = entries(text).map((x) => x.tags.includes('#EXT-X-DISCONTINUITY'));
    expect(disc).toEqual([false, false, false, true, true, true, true, true]);
    // Every segment carries its wall-clock start, also after a jump.
    expect(entries(text)[3]?.tags).toContain('#EXT-X-PROGRAM-DATE-TIME:2026-11-25T10:00:10.000Z');
  });

  it('treats unknown timestamps or run ids as a discontinuity', () => {
    const [a, b] = run(1, T0, [2000, 2000], 'r');
    expect(continues(a!, b!)).toBe(true);
    expect(continues(a!, { ...b!, firstDecodeMs: undefined })).toBe(false);
    expect(continues({ ...a!, runId: undefined }, { ...b!, runId: undefined })).toBe(false);
  });

  it('starts playback at the requested instant inside the first file, and sizes the target duration', () => {
    const segs = run(1, T0, [2500, 6400], 'r');
    const text = buildPlaylist(segs, { mediaUri: uri, startAtMs: T0 + 1250 });
    expect(text).toContain('#EXT-X-START:TIME-OFFSET=1.250,PRECISE=YES');
    expect(text).toContain('#EXT-X-TARGETDURATION:6');
    expect(buildPlaylist(segs, { mediaUri: uri, startAtMs: T0 - 5000 })).not.toContain('#EXT-X-START');
  });

  it('lists a growing file fragment by fragment: one init map, each fragment with its own instant and bytes, no discontinuity inside it', () => {
    const [closed] = run(1, T0, [2000], 'r');
    const growingUri = '../../cameras/cam/open-segments/r-000001/media.mp4';
    const growing: PlaylistSegment = {
      id: -1,
      uri: growingUri,
      startMs: T0 + 2000,
      durationMs: 2500,
      fileSizeBytes: 50_000,
      initLengthBytes: 900,
      firstDecodeMs: 0,
      runId: 'r',
      source: 'live',
      parts: [
        { startByte: 900, endByte: 20_000, startMs: T0 + 2000, durationMs: 1000 },
        { startByte: 20_000, endByte: 41_000, startMs: T0 + 3000, durationMs: 1500 },
      ],
    };
    const text = buildPlaylist([closed!, growing], { mediaUri: uri });
    const e = entries(text);
    expect(e.map((x) => x.uri)).toEqual([uri(1), growingUri, growingUri]);
    expect(e[1]?.tags).toEqual([
      '#EXT-X-DISCONTINUITY', // each file's media time restarts
      `#EXT-X-MAP:URI="${growingUri}",BYTERANGE="900@0"`,
      '#EXT-X-PROGRAM-DATE-TIME:2026-11-25T10:00:02.000Z',
      '#EXTINF:1.000,',
      '#EXT-X-BYTERANGE:19100@900',
    ]);
    expect(e[2]?.tags).toEqual(['#EXT-X-PROGRAM-DATE-TIME:2026-11-25T10:00:03.000Z', '#EXTINF:1.500,', '#EXT-X-BYTERANGE:21000@20000']);
    expect(text).toContain('#EXT-X-TARGETDURATION:2');
  });
});
