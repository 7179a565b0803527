/**
 * Reads what joining needs from one recorder file: its ftyp and moov bytes, its track, and every
 * fragment's moof (parsed) with where its mdat payload lies. Only box headers and moofs are read
 * (one positioned read per fragment, all at once when the file's mfra lists them); payloads stay
 * on disk until the clip streams them.
 */
import { read } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Fmp4Error, readBoxHeader } from '../media/fmp4/boxes.js';
import { fileSource } from '../media/fmp4/scan.js';
import { readAt, walkSource } from '../media/fmp4/walk.js';
import { parseJoinMoof, parseJoinMoov, payloadBytes, sumOf, type JoinFragmentAV, type JoinTracks, type Parsed } from './clip-join-boxes.js';

export interface JoinSourceFragment {
  /** The video samples, and the audio samples when the fragment carries any (their bytes right after the video's). */
  fragment: JoinFragmentAV;
  /** File offset of the first byte of the fragment's mdat payload. */
  payloadOffset: number;
  /** Where the fragment's moof starts in the file, and its length (its mdat follows it). */
  moofOffset: number;
  moofBytes: number;
  /** File offset just past the fragment's mdat. */
  end: number;
  /** The fragment starts with a keyframe (a decoder can start here); else it continues the GOP before it. */
  keyframe: boolean;
}

export interface JoinSource {
  ftyp: Buffer;
  moov: Buffer;
  /** The video track, with the audio track when the file has one. */
  track: JoinTracks;
  fragments: JoinSourceFragment[];
  /** Decode time just after the file's last video sample (video track ticks). */
  endDecodeTime: number;
}

/**
 * Bytes read at each moof (and at the file's start): a recorder moof (a few hundred bytes per GOP)
 * and the next mdat header fit, and below 4 KiB Node takes the buffer from its pool.
 */
const WINDOW_BYTES = 2048;

/** A moof larger than this is not something the recorder wrote. */
const MAX_MOOF_BYTES = 4 * 1024 * 1024;

const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

/** A moof read with the header of the mdat after it. */
interface MoofAt {
  offset: number;
  moof: Buffer;
  mdatHeaderBytes: number;
  /** Whole mdat size, header included. */
  mdatBytes: number;
}

/**
 * The moof at `offset` and the mdat header after it, from `buf` (the file's bytes from `offset` on):
 * one window holds both for what the recorder writes; else (a larger moof) how many bytes from
 * `offset` would, for the caller to read them. The moof gets its own copy: the plan keeps every moof
 * and must not keep every read window with it.
 */
function moofIn(buf: Buffer, offset: number, fileSize: number): Parsed<MoofAt> | number {
  const h = readBoxHeader(buf);
  if (!h || h.type !== 'moof' || h.size < h.headerSize || h.size > MAX_MOOF_BYTES) return fail(`no usable moof at ${offset}`);
  const want = Math.min(h.size + 16, fileSize - offset);
  if (buf.length < want) return want;
  const mdat = readBoxHeader(buf, h.size);
  if (!mdat || mdat.type !== 'mdat' || mdat.size < mdat.headerSize || offset + h.size + mdat.size > fileSize) {
    return fail(`moof at ${offset} is not followed by a whole mdat`);
  }
  const moof = Buffer.allocUnsafe(h.size);
  buf.copy(moof, 0, 0, h.size);
  return { ok: true, value: { offset, moof, mdatHeaderBytes: mdat.headerSize, mdatBytes: mdat.size } };
}

/** Moof windows read at once: a file of an hour (7 200 fragments) is read in batches this size into one slab. */
const WINDOWS_PER_BATCH = 256;

/**
 * A window of `WINDOW_BYTES` (fewer at the file's end) at each of `offsets`, read all at once through
 * the callback API on the handle's descriptor, with one promise for them all: a `FileHandle.read`
 * each cost ~5 µs of the main thread against ~1.7 µs, and a 10-min clip of recorder files reads 1 200.
 * Settles once every read has ended, so the caller may close the handle (or reuse `slab`) then. The
 * windows are views of `slab` (a window each from Node's 8 KiB pool took a new pool every few reads).
 */
function readWindows(fh: FileHandle, offsets: readonly number[], fileSize: number, slab: Buffer): Promise<Buffer[]> {
  const windows = new Array<Buffer>(offsets.length);
  return new Promise((resolve, reject) => {
    let left = offsets.length;
    let error: unknown;
    const done = () => {
      if (--left > 0) return;
      if (error === undefined) resolve(windows);
      else reject(error);
    };
    if (left === 0) resolve(windows);
    offsets.forEach((offset, i) => {
      const at = i * WINDOW_BYTES;
      read(fh.fd, slab, at, Math.max(0, Math.min(WINDOW_BYTES, fileSize - offset)), offset, (err, bytesRead) => {
        if (err) error ??= err;
        else windows[i] = slab.subarray(at, at + bytesRead);
        done();
      });
    });
  });
}

/**
 * Moof offsets from the file's mfra (ffmpeg closes every file with one: a tfra entry per fragment),
 * so the moofs can be read all at once instead of one after the other. Undefined when the file has
 * no usable mfra (a file recovered after a crash has none): the caller walks the boxes instead.
 */
async function indexedMoofOffsets(fh: FileHandle, fileSize: number, trackId: number, tailBytes = 16): Promise<{ offsets: number[]; mfraOffset: number } | undefined> {
  if (fileSize < 16) return undefined;
  // The file's last `tailBytes` (more than the mfro alone when the caller expects the mfra to fit).
  const tail = await readAt(fh, Math.max(0, fileSize - tailBytes), Math.min(tailBytes, fileSize));
  if (tail.length < 16) return undefined;
  const mfro = tail.subarray(tail.length - 16);
  if (mfro.readUInt32BE(0) !== 16 || mfro.toString('latin1', 4, 8) !== 'mfro') return undefined;
  const mfraBytes = mfro.readUInt32BE(12);
  const mfraOffset = fileSize - mfraBytes;
  if (mfraBytes < 16 + 8 || mfraBytes > MAX_MOOF_BYTES || mfraOffset < 0) return undefined;
  const mfra = mfraBytes <= tail.length ? tail.subarray(tail.length - mfraBytes) : await readAt(fh, mfraOffset, mfraBytes);
  const h = readBoxHeader(mfra);
  if (!h || h.type !== 'mfra' || h.size !== mfraBytes) return undefined;
  const tfra = readBoxHeader(mfra, h.headerSize);
  if (!tfra || tfra.type !== 'tfra' || h.headerSize + tfra.size > mfraBytes - 16) return undefined;
  const t = mfra.subarray(h.headerSize + tfra.headerSize, h.headerSize + tfra.size);
  if (t.length < 16 || t.readUInt32BE(4) !== trackId) return undefined;
  const v1 = t.readUInt8(0) === 1;
  const sizes = t.readUInt32BE(8);
  const entryBytes = (v1 ? 16 : 8) + ((sizes >> 4) & 3) + 1 + ((sizes >> 2) & 3) + 1 + (sizes & 3) + 1;
  const count = t.readUInt32BE(12);
  if (count === 0 || 16 + count * entryBytes !== t.length) return undefined;
  const offsets: number[] = [];
  for (let i = 0; i < count; i++) {
    const e = 16 + i * entryBytes;
    offsets.push(v1 ? Number(t.readBigUInt64BE(e + 8)) : t.readUInt32BE(e + 4));
  }
  return { offsets, mfraOffset };
}

/**
 * Every moof from `start` on, by the one walk over the file's boxes (`media/fmp4/walk.ts`):
 * (moof, mdat)* then an optional mfra, nothing else, and nothing cut short.
 */
async function walkMoofs(fh: FileHandle, start: number, fileSize: number): Promise<Parsed<MoofAt[]>> {
  const out: MoofAt[] = [];
  let pending: { offset: number; moof: Buffer } | undefined;
  let problem: string | undefined;
  const end = await walkSource(fileSource(fh, fileSize), (step) => {
    if (step.kind === 'init' || step.offset < start) return true;
    if (pending) {
      if (step.kind === 'box' && step.type === 'mdat') {
        out.push({ offset: pending.offset, moof: pending.moof, mdatHeaderBytes: step.headerSize, mdatBytes: step.end - step.offset });
        pending = undefined;
        return true;
      }
      problem = `moof at ${pending.offset} is not followed by a whole mdat`;
      return false;
    }
    if (step.kind === 'moof') {
      if (step.end - step.offset > MAX_MOOF_BYTES) {
        problem = `no usable moof at ${step.offset}`;
        return false;
      }
      pending = { offset: step.offset, moof: Buffer.concat([step.headerBytes, step.body]) };
      return true;
    }
    if (step.type === 'mfra' && step.end === fileSize) return true;
    problem = `unexpected '${step.type}' box at ${step.offset}`;
    return false;
  }).catch((err: unknown) => {
    if (err instanceof Fmp4Error) problem = err.message;
    else throw err;
    return undefined;
  });
  if (problem !== undefined) return fail(problem);
  if (pending) return fail(`moof at ${pending.offset} is not followed by a whole mdat`);
  if (!end || end.reason !== 'end') return fail(`box at ${end?.offset ?? start} is truncated or has no usable size`);
  return { ok: true, value: out };
}

/**
 * The moofs listed by the mfra, read in parallel, if they tile the file exactly from `start` to the
 * mfra (each moof followed by its mdat, the next moof right after); else the box walk decides.
 */
async function readMoofs(fh: FileHandle, start: number, fileSize: number, trackId: number): Promise<Parsed<MoofAt[]>> {
  const index = await indexedMoofOffsets(fh, fileSize, trackId);
  if (index) {
    const { offsets, mfraOffset } = index;
    if (offsets.every((o) => o >= start && o < mfraOffset)) {
      const slab = Buffer.allocUnsafe(Math.min(offsets.length, WINDOWS_PER_BATCH) * WINDOW_BYTES);
      let next = start;
      const out: MoofAt[] = [];
      batches: for (let b = 0; b < offsets.length; b += WINDOWS_PER_BATCH) {
        const batch = offsets.slice(b, b + WINDOWS_PER_BATCH);
        const windows = await readWindows(fh, batch, fileSize, slab);
        for (const [i, offset] of batch.entries()) {
          let m = moofIn(windows[i] as Buffer, offset, fileSize);
          if (typeof m === 'number') m = moofIn(await readAt(fh, offset, m), offset, fileSize);
          if (typeof m === 'number' || !m.ok || m.value.offset !== next) break batches;
          out.push(m.value);
          next = m.value.offset + m.value.moof.length + m.value.mdatBytes;
        }
      }
      if (out.length === offsets.length && next === mfraOffset) return { ok: true, value: out };
    }
  }
  return walkMoofs(fh, start, fileSize);
}

/** The file's ftyp and moov and its tracks, and where its first moof starts; `rest`: the bytes read after the moov. */
interface JoinHead {
  ftyp: Buffer;
  moov: Buffer;
  track: JoinTracks;
  initEnd: number;
  rest: Buffer;
}

async function readHead(fh: FileHandle, size: number, bytes = WINDOW_BYTES): Promise<Parsed<JoinHead>> {
  // ftyp and moov: both in the first window for what the recorder writes.
  let head = await readAt(fh, 0, Math.min(bytes, size));
  const ftypBox = readBoxHeader(head);
  if (!ftypBox || ftypBox.type !== 'ftyp' || ftypBox.size < 8 || ftypBox.size > 4096) return fail('first box is not a small ftyp');
  const moovBox = readBoxHeader(head, ftypBox.size);
  if (!moovBox || moovBox.type !== 'moov' || moovBox.size < 8 || moovBox.size > MAX_MOOF_BYTES || ftypBox.size + moovBox.size > size) {
    return fail('second box is not a whole moov');
  }
  const initEnd = ftypBox.size + moovBox.size;
  if (head.length < initEnd) head = await readAt(fh, 0, initEnd);
  const ftyp = Buffer.from(head.subarray(0, ftypBox.size));
  const moov = Buffer.from(head.subarray(ftypBox.size, initEnd));
  const parsedMoov = parseJoinMoov(moov);
  if (!parsedMoov.ok) return parsedMoov;
  return { ok: true, value: { ftyp, moov, track: parsedMoov.value, initEnd, rest: head.subarray(initEnd) } };
}

/** A moof read with its mdat's header, parsed: what its fragment holds and where its payload lies. */
function fragmentOf(m: MoofAt, track: JoinTracks): Parsed<JoinSourceFragment> {
  const at = m.offset;
  const parsed = parseJoinMoof(m.moof.subarray(8), m.moof.length, m.mdatHeaderBytes, track);
  if (!parsed.ok) return fail(`moof at ${at}: ${parsed.reason}`);
  const f = parsed.value;
  if (payloadBytes(f) + (f.audio ? payloadBytes(f.audio) : 0) !== m.mdatBytes - m.mdatHeaderBytes) return fail(`mdat after the moof at ${at} does not hold exactly its samples`);
  // A keyframe starts a fragment and is its only one; the fragments after it in its GOP have none
  // (the recorder's frag_duration).
  const keyframe = f.syncSamples.length === 1 && f.syncSamples[0] === 0;
  if (!keyframe && f.syncSamples.length > 0) return fail(`fragment at ${at} has a keyframe that does not start it, or more than one`);
  return {
    ok: true,
    value: { fragment: f, payloadOffset: at + m.moof.length + m.mdatHeaderBytes, moofOffset: at, moofBytes: m.moof.length, end: at + m.moof.length + m.mdatBytes, keyframe },
  };
}

/**
 * The file as ffmpeg's mp4 muxer writes a recorder segment: ftyp, moov, (moof, mdat)+, then an
 * optional mfra, nothing else; fragments contiguous in decode time from 0, the first starting with a
 * keyframe, each keyframe starting its fragment and alone in it (the fragments after it in its GOP hold
 * none), each mdat holding exactly its trun's samples. Anything else is a reason string.
 */
export async function readJoinSource(path: string): Promise<Parsed<JoinSource>> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const head = await readHead(fh, size);
    if (!head.ok) return head;
    const { ftyp, moov, track, initEnd } = head.value;
    const moofs = await readMoofs(fh, initEnd, size, track.trackId);
    if (!moofs.ok) return moofs;
    const fragments: JoinSourceFragment[] = [];
    let nextDecodeTime = 0;
    let nextAudioDecodeTime: number | undefined;
    for (const m of moofs.value) {
      const at = m.offset;
      const parsed = fragmentOf(m, track);
      if (!parsed.ok) return parsed;
      const f = parsed.value.fragment;
      if (f.audio) {
        // The audio runs on from fragment to fragment too (where it starts is its own: see clip-join-plan.ts).
        if (nextAudioDecodeTime !== undefined && f.audio.baseDecodeTime !== nextAudioDecodeTime) return fail(`audio of the fragment at ${at} is not contiguous in decode time`);
        nextAudioDecodeTime = f.audio.baseDecodeTime + sumOf(f.audio.durations);
      }
      if (!parsed.value.keyframe && fragments.length === 0) return fail(`first fragment at ${at} does not start with a keyframe`);
      if (f.baseDecodeTime !== nextDecodeTime) return fail(`fragment at ${at} is not contiguous in decode time`);
      nextDecodeTime = f.baseDecodeTime + sumOf(f.durations);
      fragments.push(parsed.value);
    }
    if (fragments.length === 0) return fail('no fragment');
    return { ok: true, value: { ftyp, moov, track, fragments, endDecodeTime: nextDecodeTime } };
  } finally {
    await fh.close();
  }
}

/**
 * A file known by its ends: `fragments` holds its first and its last fragment of `count` (more than
 * two), the others known only by where they lie (between the first's end and the last's moof). The
 * clip's body checks each of them as it sends it (`clip-join-middle.ts`), as `readJoinSource` would.
 */
export interface JoinEnds extends JoinSource {
  count: number;
}

export function isJoinEnds(s: JoinSource): s is JoinEnds {
  return 'count' in s;
}

/**
 * The file's init, its mfra's list of moofs (ffmpeg closes every file with one), and its first and last
 * fragments: a few reads, whatever the file's length. Undefined when the file has no usable mfra (a file
 * recovered after a crash) or at most two fragments (nothing between its ends): the caller reads it in
 * full. `endDecodeTime` is the last fragment's end; that the fragments between run
 * on without a hole is checked as the clip sends them.
 */
export async function readJoinEnds(path: string): Promise<Parsed<JoinEnds> | undefined> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    // The init and the first moof in one read, the mfra (a minute's: ~2.3 kB) and its mfro in another.
    const head = await readHead(fh, size, 2 * WINDOW_BYTES);
    if (!head.ok) return head;
    const { ftyp, moov, track, initEnd } = head.value;
    const index = await indexedMoofOffsets(fh, size, track.trackId, 4 * WINDOW_BYTES);
    if (!index) return undefined;
    const { offsets, mfraOffset } = index;
    if (offsets.length <= 2 || offsets[0] !== initEnd || offsets.some((o, i) => i > 0 && o <= (offsets[i - 1] as number)) || (offsets.at(-1) as number) >= mfraOffset) return undefined;
    const fragments: JoinSourceFragment[] = [];
    for (const offset of [offsets[0] as number, offsets.at(-1) as number]) {
      const inHead = offset === initEnd && head.value.rest.length >= 16 ? head.value.rest : undefined;
      let m = moofIn(inHead ?? (await readAt(fh, offset, Math.min(WINDOW_BYTES, size - offset))), offset, size);
      if (typeof m === 'number') m = moofIn(await readAt(fh, offset, m), offset, size);
      if (typeof m === 'number' || !m.ok) return fail(`moof at ${offset}: ${typeof m === 'number' ? 'cut short' : m.reason}`);
      const parsed = fragmentOf(m.value, track);
      if (!parsed.ok) return parsed;
      fragments.push(parsed.value);
    }
    const [first, last] = fragments as [JoinSourceFragment, JoinSourceFragment];
    if (!first.keyframe) return fail(`first fragment at ${first.moofOffset} does not start with a keyframe`);
    if (first.fragment.baseDecodeTime !== 0) return fail(`fragment at ${first.moofOffset} is not contiguous in decode time`);
    // The first fragment ends where the mfra says the second begins, the last where the mfra does.
    if (first.end !== offsets[1]) return fail(`fragment at ${first.moofOffset} does not end where the next begins`);
    if (last.end !== mfraOffset) return fail(`fragment at ${last.moofOffset} does not end where the mfra begins`);
    if (last.fragment.baseDecodeTime < sumOf(first.fragment.durations)) return fail(`fragment at ${last.moofOffset} is not contiguous in decode time`);
    return { ok: true, value: { ftyp, moov, track, fragments, endDecodeTime: last.fragment.baseDecodeTime + sumOf(last.fragment.durations), count: offsets.length } };
  } finally {
    await fh.close();
  }
}
