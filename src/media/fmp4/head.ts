/**
 * The head of a stored fragmented MP4, as HLS playback addresses it: the init segment (ftyp+moov,
 * served as EXT-X-MAP) and the decode time its first fragment starts at (to tell whether the next
 * file's timestamps continue this one's). Reads box headers, the moov and the first moof only:
 * a few KiB, never the media.
 */
import { open } from 'node:fs/promises';
import { Fmp4Error, parseMoof, type InitInfo } from './boxes.js';
import { readAt, runOnBuffer, walkFmp4 } from './walk.js';

export interface Fmp4Head {
  /** Bytes from the start of the file to the end of the moov: ftyp + moov. */
  initLengthBytes: number;
  /** Decode time of the first fragment of the main (video) track, in seconds; undefined without a tfdt. */
  firstDecodeSeconds: number | undefined;
  fileSizeBytes: number;
}

/** Boxes walked before giving up on finding a moof (ftyp, moov, maybe free/sidx/styp, moof). */
const MAX_BOXES = 16;

/** The head as a generator of read requests over the one walk (`walk.ts`), stopping at the first fragment. */
function* headSteps(fileSize: number): Generator<{ offset: number; length: number }, Fmp4Head, Buffer> {
  let init: InitInfo | undefined;
  let initEnd = 0;
  let firstDecodeSeconds: number | undefined;
  const walk = walkFmp4(fileSize);
  let boxes = 0;
  let r = walk.next();
  while (!r.done && boxes < MAX_BOXES) {
    const step = r.value;
    if (step.kind === 'read') {
      if (step.length <= 16) boxes++;
      r = walk.next(yield { offset: step.offset, length: step.length });
      continue;
    }
    if (step.kind === 'init') {
      init = step.init;
      initEnd = step.end;
    } else if (step.kind === 'moof') {
      firstDecodeSeconds = firstDecode(init as InitInfo, step.body);
      break;
    } else if (step.type === 'mdat') {
      break;
    }
    r = walk.next();
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
  return runOnBuffer(headSteps(buf.length), buf);
}

/** The first read takes this much: ftyp, moov and the first moof of a recorder file fit in it. */
const FIRST_READ = 16 * 1024;

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
