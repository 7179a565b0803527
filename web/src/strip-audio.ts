/**
 * The video alone out of a live fragmented MP4 with an audio track: the init without the audio trak
 * (and its trex), each fragment without the audio traf (the video's data offset moved by what the moof
 * lost; the audio bytes stay, unreferenced, in the mdat). A SourceBuffer plays only what every one of
 * its tracks has buffered, so a camera whose audio stops would freeze the live picture; the player
 * then goes on with the video alone.
 */

interface Box {
  type: string;
  start: number;
  end: number;
}

function boxesOf(b: Uint8Array, start: number, end: number): Box[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: Box[] = [];
  for (let at = start; at + 8 <= end; ) {
    const size = v.getUint32(at);
    if (size < 8 || at + size > end) throw new Error('malformed box');
    out.push({ type: String.fromCharCode(b[at + 4] as number, b[at + 5] as number, b[at + 6] as number, b[at + 7] as number), start: at, end: at + size });
    at += size;
  }
  return out;
}

const child = (b: Uint8Array, box: Box, type: string) => boxesOf(b, box.start + 8, box.end).find((c) => c.type === type);

/** A box made of its header (type kept) and the kept children. */
function rebuild(b: Uint8Array, box: Box, keep: (c: Box) => boolean, headerBytes = 8): Uint8Array {
  const kids = boxesOf(b, box.start + headerBytes, box.end).filter(keep);
  const size = headerBytes + kids.reduce((n, k) => n + (k.end - k.start), 0);
  const out = new Uint8Array(size);
  out.set(b.subarray(box.start, box.start + headerBytes), 0);
  new DataView(out.buffer).setUint32(0, size);
  let at = headerBytes;
  for (const k of kids) {
    out.set(b.subarray(k.start, k.end), at);
    at += k.end - k.start;
  }
  return out;
}

/** The audio track's id in an init segment (ftyp + moov), or undefined without one. */
export function audioTrackId(init: ArrayBuffer): number | undefined {
  const b = new Uint8Array(init);
  const v = new DataView(init);
  const moov = boxesOf(b, 0, b.length).find((x) => x.type === 'moov');
  if (!moov) return undefined;
  for (const trak of boxesOf(b, moov.start + 8, moov.end).filter((x) => x.type === 'trak')) {
    const tkhd = child(b, trak, 'tkhd');
    const mdia = child(b, trak, 'mdia');
    const hdlr = mdia && child(b, mdia, 'hdlr');
    if (!tkhd || !hdlr) continue;
    const handler = String.fromCharCode(...b.subarray(hdlr.start + 16, hdlr.start + 20));
    if (handler === 'soun') return v.getUint32(tkhd.start + 8 + (b[tkhd.start + 8] === 1 ? 20 : 12));
  }
  return undefined;
}

/** The init segment without track `trackId` (its trak and its trex). */
export function stripInit(init: ArrayBuffer, trackId: number): ArrayBuffer {
  const b = new Uint8Array(init);
  const v = new DataView(init);
  const top = boxesOf(b, 0, b.length);
  const parts: Uint8Array[] = top.map((box) => {
    if (box.type !== 'moov') return b.subarray(box.start, box.end);
    const moovKids = boxesOf(b, box.start + 8, box.end).map((k) => {
      if (k.type === 'trak') {
        const tkhd = child(b, k, 'tkhd');
        const id = tkhd && v.getUint32(tkhd.start + 8 + (b[tkhd.start + 8] === 1 ? 20 : 12));
        return id === trackId ? null : b.subarray(k.start, k.end);
      }
      if (k.type === 'mvex') return rebuild(b, k, (t) => !(t.type === 'trex' && v.getUint32(t.start + 12) === trackId));
      return b.subarray(k.start, k.end);
    }).filter((x): x is Uint8Array => x !== null);
    const size = 8 + moovKids.reduce((n, k) => n + k.length, 0);
    const moov = new Uint8Array(size);
    moov.set(b.subarray(box.start, box.start + 8), 0);
    new DataView(moov.buffer).setUint32(0, size);
    let at = 8;
    for (const k of moovKids) {
      moov.set(k, at);
      at += k.length;
    }
    return moov;
  });
  return concat(parts);
}

/** A fragment (moof + mdat) without the traf of track `trackId`. */
export function stripFragment(frag: ArrayBuffer, trackId: number): ArrayBuffer {
  const b = new Uint8Array(frag);
  const v = new DataView(frag);
  const top = boxesOf(b, 0, b.length);
  const moof = top[0];
  if (!moof || moof.type !== 'moof') return frag;
  const trafs = boxesOf(b, moof.start + 8, moof.end).filter((k) => k.type === 'traf');
  const drop = trafs.find((t) => {
    const tfhd = child(b, t, 'tfhd');
    return tfhd !== undefined && v.getUint32(tfhd.start + 12) === trackId;
  });
  if (!drop) return frag;
  const removed = drop.end - drop.start;
  const out = rebuild(b, moof, (k) => k.start !== drop.start);
  // The data offsets (from the moof's start) of the trafs kept: the mdat is now `removed` bytes nearer.
  const o = new DataView(out.buffer);
  for (const traf of boxesOf(out, 8, out.length).filter((k) => k.type === 'traf')) {
    for (const trun of boxesOf(out, traf.start + 8, traf.end).filter((k) => k.type === 'trun')) {
      if (o.getUint32(trun.start + 8) & 0x1) o.setInt32(trun.start + 16, o.getInt32(trun.start + 16) - removed);
    }
  }
  return concat([out, b.subarray(moof.end)]);
}

function concat(parts: Uint8Array[]): ArrayBuffer {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out.buffer;
}
