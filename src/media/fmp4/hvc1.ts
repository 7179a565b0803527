/**
 * HEVC sample entries: Vigil keeps H.265 as `hvc1` (parameter sets in the hvcC, arrays complete), the
 * entry browsers and Apple's players expect, where ffmpeg's mp4 muxer writes `hev1` unless told. This
 * rewrites a `hev1` entry as ffmpeg writes `hvc1` with `-tag:v hvc1`, byte for byte (tested).
 */
import { boxSpans } from './boxes.js';

/** The span of the first child box of `type` inside `buf[start, end)`. */
function childSpan(buf: Buffer, type: string, start: number, end: number) {
  for (const s of boxSpans(buf, start, end)) if (s.type === type) return s;
  return undefined;
}

/**
 * Rewrites, in place, every `hev1` sample entry of a moov body as `hvc1`: the entry's 4cc, and the
 * hvcC's VPS/SPS/PPS arrays marked complete (array_completeness = 1, ISO/IEC 14496-15 8.3.3). The
 * samples are not touched (their in-band parameter sets stay, as with ffmpeg's tag). Returns whether
 * anything changed.
 */
export function hev1AsHvc1(moovBody: Buffer): boolean {
  const body = moovBody;
  let changed = false;
  for (const trak of boxSpans(body, 0)) {
    if (trak.type !== 'trak') continue;
    const mdia = childSpan(body, 'mdia', trak.bodyStart, trak.end);
    const minf = mdia && childSpan(body, 'minf', mdia.bodyStart, mdia.end);
    const stbl = minf && childSpan(body, 'stbl', minf.bodyStart, minf.end);
    const stsd = stbl && childSpan(body, 'stsd', stbl.bodyStart, stbl.end);
    if (!stsd) continue;
    // stsd: version/flags and entry_count, then the entries; a VisualSampleEntry's children follow its 78 bytes.
    for (const entry of boxSpans(body, stsd.bodyStart + 8, stsd.end)) {
      if (entry.type !== 'hev1') continue;
      body.write('hvc1', entry.start + 4, 'latin1');
      const hvcC = childSpan(body, 'hvcC', entry.bodyStart + 78, entry.end);
      if (hvcC && hvcC.end - hvcC.bodyStart > 23) {
        let p = hvcC.bodyStart + 23; // 22 bytes of configuration, then numOfArrays
        for (let n = body.readUInt8(p - 1); n > 0 && p + 3 <= hvcC.end; n--) {
          const type = body.readUInt8(p) & 0x3f;
          if (type >= 32 && type <= 34) body.writeUInt8(body.readUInt8(p) | 0x80, p); // VPS, SPS, PPS
          let q = p + 3;
          for (let k = body.readUInt16BE(p + 1); k > 0 && q + 2 <= hvcC.end; k--) q += 2 + body.readUInt16BE(q);
          p = q;
        }
      }
      changed = true;
    }
  }
  return changed;
}
