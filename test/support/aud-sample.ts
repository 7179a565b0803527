import { readFile, writeFile } from 'node:fs/promises';
import { boxSpans } from '../../src/media/fmp4/boxes.js';

/** An access unit delimiter alone, as a 4-byte length and its NAL (H.264 type 9): 6 bytes. */
const AUD_ALONE = Buffer.from([0, 0, 0, 2, 0x09, 0xf0]);

/**
 * Makes `file` end as recordings made before the recorder dropped delimiters ended a run a silence
 * stopped: its last fragment gets one more sample, the 6-byte delimiter with no picture, non-sync, of
 * the default duration. The last moof's trun gains an entry (its data offset, and the moof's, traf's
 * and trun's sizes grow by the entry), its mdat the bytes; what follows (the mfra) moves along, its
 * offsets unchanged (they point at moofs before the change). H.264 files with one video track.
 */
export async function appendPicturelessSample(file: string): Promise<void> {
  const buf = await readFile(file);
  const top = [...boxSpans(buf, 0)];
  const moofIndex = top.map((b) => b.type).lastIndexOf('moof');
  const moof = top[moofIndex];
  const mdat = top[moofIndex + 1];
  if (!moof || mdat?.type !== 'mdat') throw new Error(`${file}: no moof followed by an mdat`);
  const traf = [...boxSpans(buf, moof.bodyStart, moof.end)].find((b) => b.type === 'traf');
  const trun = traf && [...boxSpans(buf, traf.bodyStart, traf.end)].find((b) => b.type === 'trun');
  if (!traf || !trun) throw new Error(`${file}: no traf/trun in the last moof`);
  const flags = buf.readUInt32BE(trun.bodyStart) & 0xffffff;
  const count = buf.readUInt32BE(trun.bodyStart + 4);
  const entry: number[] = [];
  // Per-sample fields present, in order: duration (0x100), size (0x200), flags (0x400), composition offset (0x800).
  const durationOf = () => {
    // The previous sample's duration when the trun carries them (else the default applies).
    const firstEntry = trun.bodyStart + 8 + (flags & 0x1 ? 4 : 0) + (flags & 0x4 ? 4 : 0);
    const perEntry = [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f).length * 4;
    return buf.readUInt32BE(firstEntry + (count - 1) * perEntry);
  };
  if (flags & 0x100) entry.push(durationOf());
  if (flags & 0x200) entry.push(AUD_ALONE.length);
  else throw new Error(`${file}: the trun has no per-sample sizes`);
  if (flags & 0x400) entry.push(0x01010000); // not a sync sample, depends on others
  if (flags & 0x800) entry.push(0);
  const entrySize = entry.length * 4;
  const added = Buffer.alloc(entrySize);
  entry.forEach((v, i) => added.writeUInt32BE(v >>> 0, i * 4));
  const out = Buffer.concat([buf.subarray(0, trun.end), added, buf.subarray(trun.end, mdat.end), AUD_ALONE, buf.subarray(mdat.end)]);
  out.writeUInt32BE(buf.readUInt32BE(moof.start) + entrySize, moof.start);
  out.writeUInt32BE(buf.readUInt32BE(traf.start) + entrySize, traf.start);
  out.writeUInt32BE(buf.readUInt32BE(trun.start) + entrySize, trun.start);
  out.writeUInt32BE(count + 1, trun.bodyStart + 4);
  if (flags & 0x1) out.writeInt32BE(buf.readInt32BE(trun.bodyStart + 8) + entrySize, trun.bodyStart + 8);
  const mdatAt = mdat.start + entrySize;
  out.writeUInt32BE(buf.readUInt32BE(mdat.start) + AUD_ALONE.length, mdatAt);
  await writeFile(file, out);
}
