/**
 * The one walk over the top-level boxes of a stored fragmented MP4 (a closed file, or one a writer
 * may still be growing): ftyp first, the moov parsed into the tracks and their defaults, then each
 * moof with its body and every other box (mdat, mfra, free) by position. It stops, without error,
 * where the file stops being whole (a partial header, a box that overruns the file, a size-0 box);
 * it throws Fmp4Error when the file is not a fragmented MP4 at all. As a generator of read requests
 * (answered with the bytes asked for) and steps (answered with nothing), one walk serves the
 * synchronous buffer readers and the asynchronous positioned-read file readers alike.
 */
import { Fmp4Error, parseMoov, readBoxHeader, type BoxHeader, type InitInfo } from './boxes.js';

export interface ReadRequest {
  kind: 'read';
  offset: number;
  length: number;
}

export type WalkStep =
  /** The ftyp and moov are whole: the init segment ends at `end`. */
  | { kind: 'init'; offset: number; end: number; moovBody: Buffer; init: InitInfo }
  /** A whole moof; `headerBytes` are its header as stored. */
  | { kind: 'moof'; offset: number; end: number; header: BoxHeader; headerBytes: Buffer; body: Buffer }
  /** Any other whole box after the init segment (mdat, mfra, free…). */
  | { kind: 'box'; type: string; offset: number; end: number; headerSize: number };

/** Where and why the walk stopped: the end of the file, or where it stops being whole. */
export interface WalkEnd {
  offset: number;
  reason: 'end' | 'partial' | 'garbage';
}

/** moov/moof bodies beyond this are corruption rather than something to allocate. */
export const MAX_META_BOX = 64 * 1024 * 1024;

export type Walk = Generator<ReadRequest | WalkStep, WalkEnd, Buffer | undefined>;

export function* walkFmp4(fileSize: number): Walk {
  let off = 0;
  let init: InitInfo | undefined;
  // Where the file stops being whole: before the init segment is whole, there is nothing to read.
  const stop = (reason: WalkEnd['reason']): WalkEnd => {
    if (!init) throw new Fmp4Error('truncated_init', `no complete ftyp+moov in ${fileSize} bytes`);
    return { offset: off, reason };
  };
  while (off < fileSize) {
    const headBytes = (yield { kind: 'read', offset: off, length: Math.min(16, fileSize - off) }) as Buffer;
    const h = readBoxHeader(headBytes);
    if (!h) return stop('partial');
    if (off === 0 && h.type !== 'ftyp') throw new Fmp4Error('not_mp4', `first box is '${h.type}', not 'ftyp'`);
    // size 0 ("to end of file") on a file that may still grow cannot be trusted to be whole; a
    // zero-filled tail after a power loss also reads as size 0.
    if (h.size === 0 || off + h.size > fileSize) return stop('partial');
    if (h.size < h.headerSize) {
      if (!init) throw new Fmp4Error('malformed', `box '${h.type}' at ${off} has size ${h.size}`);
      return stop('garbage');
    }
    const end = off + h.size;
    const bodyLength = h.size - h.headerSize;
    if (!init) {
      if (h.type === 'moof') throw new Fmp4Error('malformed', 'moof before moov');
      if (h.type === 'moov') {
        if (bodyLength > MAX_META_BOX) throw new Fmp4Error('malformed', `moov of ${bodyLength} bytes`);
        const body = (yield { kind: 'read', offset: off + h.headerSize, length: bodyLength }) as Buffer;
        if (body.length < bodyLength) return stop('partial'); // the file shrank under us
        init = parseMoov(body);
        if (!init.fragmented) throw new Fmp4Error('not_fragmented', 'moov has no mvex: not a fragmented MP4');
        yield { kind: 'init', offset: off, end, moovBody: body, init };
      }
    } else if (h.type === 'moof') {
      if (bodyLength > MAX_META_BOX) return stop('garbage');
      const body = (yield { kind: 'read', offset: off + h.headerSize, length: bodyLength }) as Buffer;
      if (body.length < bodyLength) return stop('partial');
      yield { kind: 'moof', offset: off, end, header: h, headerBytes: Buffer.from(headBytes.subarray(0, h.headerSize)), body };
    } else {
      yield { kind: 'box', type: h.type, offset: off, end, headerSize: h.headerSize };
    }
    off = end;
  }
  return stop('end');
}

/** Runs a walk over bytes held in memory, handing each step to `onStep` (return false to stop). */
export function walkBuffer(buf: Buffer, onStep: (s: WalkStep) => boolean | void): WalkEnd | undefined {
  const walk = walkFmp4(buf.length);
  let r = walk.next();
  while (!r.done) {
    const v = r.value;
    if (v.kind === 'read') r = walk.next(buf.subarray(v.offset, v.offset + v.length));
    else if (onStep(v) === false) return undefined;
    else r = walk.next();
  }
  return r.value;
}

/** Runs a walk over a random-access source, handing each step to `onStep` (return false to stop). */
export async function walkSource(
  src: { size: number; read(offset: number, length: number): Promise<Buffer> },
  onStep: (s: WalkStep) => boolean | void | Promise<boolean | void>,
): Promise<WalkEnd | undefined> {
  const walk = walkFmp4(src.size);
  let r = walk.next();
  while (!r.done) {
    const v = r.value;
    if (v.kind === 'read') r = walk.next(await src.read(v.offset, v.length));
    else if ((await onStep(v)) === false) return undefined;
    else r = walk.next();
  }
  return r.value;
}

/** Answers a generator of read requests from bytes held in memory, and returns what it returns. */
export function runOnBuffer<T>(steps: Generator<{ offset: number; length: number }, T, Buffer>, buf: Buffer): T {
  let r = steps.next();
  while (!r.done) r = steps.next(buf.subarray(r.value.offset, r.value.offset + r.value.length));
  return r.value;
}

type PositionedReader = { read(buf: Buffer, off: number, len: number, pos: number): Promise<{ bytesRead: number }> };

/** Reads `length` bytes at `position` (fewer only at the end of the file). */
export function readAt(fh: PositionedReader, position: number, length: number): Promise<Buffer> {
  return readInto(fh, Buffer.allocUnsafe(length), position);
}

/** Fills `buf` from the file at `position` (less only at the end of the file); returns the part filled. */
export async function readInto(fh: PositionedReader, buf: Buffer, position: number): Promise<Buffer> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}
