/**
 * The head of a stored fragmented MP4, as HLS playback addresses it: the init segment (ftyp+moov,
 * served as EXT-X-MAP) and the decode time its first fragment starts at (to tell whether the next
 * file's timestamps continue this one's). Reads box headers, the moov and the first moof only:
 * a few KiB, never the media.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Fmp4Error, parseMoof, parseMoov, readBoxHeader, type InitInfo } from './fmp4-boxes.js';

export interface Fmp4Head {
  /** Bytes from the start of the file to the end of the moov: ftyp + moov. */
  initLengthBytes: number;
  /** Decode time of the first fragment of the main (video) track, in seconds; undefined without a tfdt. */
  firstDecodeSeconds: number | undefined;
  fileSizeBytes: number;
}

interface ReadRequest {
  offset: number;
  length: number;
}

/** moov/moof bodies beyond this are corruption, not something to allocate. */
const MAX_META_BOX = 64 * 1024 * 1024;
/** Boxes walked before giving up on finding a moof (ftyp, moov, maybe free/sidx/styp, moof). */
const MAX_BOXES = 16;

function* headSteps(fileSize: number): Generator<ReadRequest, Fmp4Head, Buffer> {
  let off = 0;
  let init: InitInfo | undefined;
  let initEnd = 0;
  let firstDecodeSeconds: number | undefined;
  for (let n = 0; n < MAX_BOXES && off < fileSize; n++) {
    const h = readBoxHeader(yield { offset: off, length: Math.min(16, fileSize - off) });
    if (!h) break;
    if (n === 0 && h.type !== 'ftyp') throw new Fmp4Error('not_mp4', `first box is '${h.type}', not 'ftyp'`);
    if (h.size === 0 || h.size < h.headerSize || off + h.size > fileSize) break;
    const body: ReadRequest = { offset: off + h.headerSize, length: h.size - h.headerSize };
    if (h.type === 'moov' && !init) {
      if (body.length > MAX_META_BOX) throw new Fmp4Error('malformed', `moov of ${body.length} bytes`);
      init = parseMoov(yield body);
      if (!init.fragmented) throw new Fmp4Error('not_fragmented', 'moov has no mvex: not a fragmented MP4');
      initEnd = off + h.size;
    } else if (h.type === 'moof') {
      if (!init) throw new Fmp4Error('malformed', 'moof before moov');
      if (body.length <= MAX_META_BOX) firstDecodeSeconds = firstDecode(init, yield body);
      break;
    } else if (h.type === 'mdat' && init) {
      break;
    }
    off += h.size;
  }
  if (!init) throw new Fmp4Error('truncated_init', `no complete ftyp+moov in ${fileSize} bytes`);
  return { initLengthBytes: initEnd, firstDecodeSeconds, fileSizeBytes: fileSize };
}

function firstDecode(init: InitInfo, moof: Buffer): number | undefined {
  const main = init.tracks.find((t) => t.kind === 'video') ?? init.tracks[0];
  if (!main) return undefined;
  try {
    const traf = parseMoof(moof, init.trex).find((t) => t.trackId === main.trackId);
    return traf?.baseDecodeTime === undefined ? undefined : traf.baseDecodeTime / main.timescale;
  } catch (err) {
    if (err instanceof Fmp4Error) return undefined; // a corrupt first moof: its time is unknown, the init still serves
    throw err;
  }
}

/** The head of an fMP4 held in memory. */
export function readFmp4HeadBuffer(buf: Buffer): Fmp4Head {
  const steps = headSteps(buf.length);
  let r = steps.next();
  while (!r.done) r = steps.next(buf.subarray(r.value.offset, r.value.offset + r.value.length));
  return r.value;
}

/** The first read takes this much: ftyp, moov and the first moof of a recorder file fit in it. */
const FIRST_READ = 16 * 1024;

async function readAt(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** The head of an fMP4 file; throws Fmp4Error when it has no whole ftyp+moov (or is not fragmented). */
export async function readFmp4Head(path: string): Promise<Fmp4Head> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const first = await readAt(fh, 0, Math.min(FIRST_READ, size));
    const steps = headSteps(size);
    let r = steps.next();
    while (!r.done) {
      const { offset, length } = r.value;
      const chunk = offset + length <= first.length ? first.subarray(offset, offset + length) : await readAt(fh, offset, length);
      r = steps.next(chunk);
    }
    return r.value;
  } finally {
    await fh.close();
  }
}
