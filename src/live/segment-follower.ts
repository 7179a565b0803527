/**
 * Reads one recorder run's segment files as ffmpeg grows them, for the live view: the init segment and
 * each fragment as it is flushed, following into the next file when the recorder reports that the
 * segment closed. Runs only while someone watches (the hub starts and stops it), holds at most one
 * file handle, and never touches ffmpeg: its reads are positioned reads of a file ffmpeg appends to,
 * so a slow viewer or a slow follower can never hold up the recording.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import { Fmp4Error, fileSource, scanFmp4Source, type FragmentInfo } from '../media/fmp4/scan.js';
import { Fmp4StreamSplitter, retimeFragment, type LiveChunk, type LiveFragment } from '../media/fmp4/stream.js';
import { readAt } from '../media/fmp4/walk.js';

/** The files of one recorder run, numbered as ffmpeg numbers them. */
export interface RunFiles {
  /** Absolute path of the run's file number `seq` while ffmpeg writes it (before the indexer renames it). */
  pathOf(seq: number): string;
  /** The name the indexer gives file `seq` once closed, when known. */
  closedPathOf(seq: number): string | undefined;
  /** Wall-clock instant of file `seq`'s first frame on the run's time mapping (as its row will say), when known. */
  startMsOf?(seq: number): number | undefined;
}

export interface SegmentFollowerDeps {
  /** Opens a segment file for reading while it may still grow (the footage store's). */
  open(absPath: string): Promise<FileHandle>;
  /** An init (once per run) or a fragment; `backlog` for those already on disk when the follower started. */
  onChunk(c: LiveChunk, backlog: boolean): void;
  /** The follower is done (stopped, the run ended, or it failed); its file handle is closed. */
  onEnd(): void;
  log: Logger;
  /** How often the open file is looked at for new bytes (an fstat, nothing more, when nothing changed). */
  pollMs: number;
}

/** One read takes at most this much of a file (a whole 60 s segment is caught up in a few). */
const MAX_READ_BYTES = 4 * 1024 * 1024;

export class SegmentFollower {
  /** Resolves once the first file has been looked at (its init and latest keyframe fragment sent, if there). */
  readonly ready: Promise<void>;
  /** Resolves when the follower is done and its file handle closed. */
  readonly done: Promise<void>;
  private fh: FileHandle | undefined;
  /** Where the next read of the open file starts; undefined until the first file is positioned. */
  private offset: number | undefined;
  private splitter = new Fmp4StreamSplitter();
  /** The run's init was passed on: the identical inits of its later files are not (the player would restart). */
  private sentInit = false;
  /** Per track: the decode time the next fragment has on the viewers' timeline. */
  private readonly nextDecode = new Map<number, bigint>();
  /** Per track: what is added to the current file's decode times (each file of a run starts again at 0). */
  private shift = new Map<number, bigint>();
  /** The current file is the first this follower reads: its timeline is the viewers'. */
  private firstFile = true;
  /** The video track's timescale (from the run's init) and the current file's first decode time, s. */
  private timescale: number | undefined;
  /** The run's tracks (from its init): the video's id, every track's timescale. */
  private videoTrackId: number | undefined;
  private readonly timescales = new Map<number, number>();
  private fileFirstS: number | undefined;
  private closedThrough: number;
  private runEnded = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private markReady!: () => void;

  constructor(
    private readonly files: RunFiles,
    /** The number of the file ffmpeg writes now. */
    private seq: number,
    private readonly d: SegmentFollowerDeps,
  ) {
    this.closedThrough = seq - 1;
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    this.done = this.loop();
  }

  /** The recorder listed file `seq` as closed: ffmpeg writes the next one. */
  segmentClosed(seq: number): void {
    if (seq > this.closedThrough) this.closedThrough = seq;
    this.poke();
  }

  /** The run's ffmpeg is gone: what it wrote is read to the end, then the follower ends. */
  runEnd(): void {
    this.runEnded = true;
    this.poke();
  }

  /** Ends the follower now (no viewer left); resolves once its file handle is closed. */
  stop(): Promise<void> {
    this.stopped = true;
    this.poke();
    return this.done;
  }

  private poke(): void {
    this.wake?.();
  }

  private async loop(): Promise<void> {
    try {
      while (!this.stopped) {
        const next = await this.step();
        this.markReady();
        if (next === 'finished') break;
        if (next === 'idle') await this.nap();
      }
    } catch (err) {
      this.d.log.warn({ err, file: this.files.pathOf(this.seq) }, 'live: following the segment file failed; viewers wait for the next run');
    } finally {
      this.markReady();
      await this.closeFile();
      this.d.onEnd();
    }
  }

  /** One look at the current file: 'again' when it moved on to the next file, 'finished' when the run's files are all read. */
  private async step(): Promise<'idle' | 'again' | 'finished'> {
    // Noted before the size is read: once ffmpeg has listed the file, the size read next is final.
    const closed = this.closedThrough >= this.seq || this.runEnded;
    if (!this.fh) {
      try {
        this.fh = await this.d.open(this.files.pathOf(this.seq));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        // Not created yet (ffmpeg opens it at the next packet), or closed and renamed before it could
        // be opened: then it is skipped, as is a run's end with no further file.
        if (this.runEnded) return 'finished';
        if (!closed) return 'idle';
        this.nextFile();
        return 'again';
      }
    }
    const fh = this.fh;
    const { size } = await fh.stat();
    if (this.offset === undefined && !(await this.position(fh, size))) return closed ? this.finishFile() : 'idle';
    await this.readTo(fh, size, false);
    if (!closed) return 'idle';
    return this.finishFile();
  }

  /**
   * The first file: its init and the fragments from the latest keyframe, so a viewer's first frame
   * shows at once and a decoder starts on a keyframe. False while the file has no whole init yet.
   */
  private async position(fh: FileHandle, size: number): Promise<boolean> {
    let scan;
    try {
      scan = await scanFmp4Source(fileSource(fh, size));
    } catch (err) {
      if (err instanceof Fmp4Error && err.reason === 'truncated_init') return false;
      throw err;
    }
    let from = lastKeyframe(scan.fragments)?.offset;
    this.fileFirstS = scan.fragments[0]?.decodeTimeSeconds;
    this.push(await readAt(fh, 0, scan.initEndOffset), true);
    // Just after a rollover the file has no keyframe fragment yet: the latest keyframe is in the one
    // before, and then every fragment of this file follows it.
    if (from === undefined && this.seq > 0 && (await this.previousFileBacklog())) from = scan.initEndOffset;
    this.offset = from ?? scan.completeEndOffset;
    await this.readTo(fh, scan.completeEndOffset, true);
    return true;
  }

  /**
   * The fragments from the latest keyframe of the run's previous (closed) file, on the viewers'
   * timeline. False when there is none to give (gone, or no keyframe in it).
   */
  private async previousFileBacklog(): Promise<boolean> {
    const fh = await this.openPrevious();
    if (!fh) return false;
    try {
      const { size } = await fh.stat();
      const scan = await scanFmp4Source(fileSource(fh, size));
      const last = lastKeyframe(scan.fragments);
      if (!last) return false;
      const splitter = new Fmp4StreamSplitter();
      splitter.push(await readAt(fh, 0, scan.initEndOffset)); // the run's init, sent already
      const firstS = scan.fragments[0]?.decodeTimeSeconds;
      for (const c of splitter.push(await readAt(fh, last.offset, scan.completeEndOffset - last.offset))) {
        if (c.kind !== 'fragment') continue;
        this.place(c.fragment, this.seq - 1, firstS);
        this.retime(c.fragment);
        this.d.onChunk(c, true);
      }
      // The current file continues that timeline.
      this.shift = new Map();
      this.firstFile = false;
      return true;
    } catch (err) {
      // A previous file that cannot be read only costs the joiner its head start.
      if (!(err instanceof Fmp4Error)) throw err;
      return false;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /** The previous file under ffmpeg's name or, once the indexer renamed it, its own; undefined when gone. */
  private async openPrevious(): Promise<FileHandle | undefined> {
    const closed = this.files.closedPathOf(this.seq - 1);
    for (const path of [this.files.pathOf(this.seq - 1), ...(closed ? [closed] : [])]) {
      try {
        return await this.d.open(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return undefined;
  }

  private async readTo(fh: FileHandle, end: number, backlog: boolean): Promise<void> {
    while (!this.stopped && this.offset !== undefined && this.offset < end) {
      const bytes = await readAt(fh, this.offset, Math.min(end - this.offset, MAX_READ_BYTES));
      if (bytes.length === 0) return; // the file shrank (crash recovery cut a partial fragment)
      this.offset += bytes.length;
      this.push(bytes, backlog);
    }
  }

  private push(bytes: Buffer, backlog: boolean): void {
    for (const c of this.splitter.push(bytes)) {
      if (c.kind === 'init') {
        this.timescale = c.init.timescale;
        this.videoTrackId = c.init.tracks[0]?.trackId;
        for (const t of c.init.tracks) this.timescales.set(t.trackId, t.timescale);
        if (this.sentInit) continue;
        this.sentInit = true;
      } else {
        this.fileFirstS ??= this.decodeSeconds(c.fragment);
        this.place(c.fragment, this.seq, this.fileFirstS);
        this.retime(c.fragment);
      }
      this.d.onChunk(c, backlog);
    }
  }

  /** The wall-clock instant of a fragment of file `seq` whose first fragment starts at `firstS` (before retiming). */
  private place(f: LiveFragment, seq: number, firstS: number | undefined): void {
    const startMs = this.files.startMsOf?.(seq);
    const atS = this.decodeSeconds(f);
    if (startMs === undefined || atS === undefined || firstS === undefined) return;
    f.wallMs = startMs + (atS - firstS) * 1000;
  }

  /** The fragment's video decode time in seconds. */
  private decodeSeconds(f: LiveFragment): number | undefined {
    const t = f.tracks.find((x) => x.trackId === this.videoTrackId) ?? f.tracks[0];
    if (t?.baseDecodeTime === undefined || !this.timescale) return undefined;
    return t.baseDecodeTime / this.timescale;
  }

  /**
   * Puts a fragment on the viewers' one timeline: a later file's video goes on where the one before
   * ended, and its audio moves with it (the same shift in seconds: each file's audio keeps its place
   * against the video of its own file; by where the previous file's audio ended instead, the audio
   * would drift by the up to one frame each file's audio overhangs its video).
   */
  private retime(f: LiveFragment): void {
    let shifted = false;
    const video = f.tracks.find((t) => t.trackId === this.videoTrackId);
    for (const t of video ? [video, ...f.tracks.filter((x) => x !== video)] : f.tracks) {
      if (t.baseDecodeTime === undefined) continue;
      const base = BigInt(t.baseDecodeTime);
      let shift = this.shift.get(t.trackId);
      if (shift === undefined) {
        const videoShift = this.videoTrackId === undefined ? undefined : this.shift.get(this.videoTrackId);
        const ts = this.timescales.get(t.trackId);
        shift =
          t.trackId !== this.videoTrackId && videoShift !== undefined && ts !== undefined && this.timescale
            ? BigInt(Math.round((Number(videoShift) * ts) / this.timescale))
            : this.firstFile
              ? 0n
              : (this.nextDecode.get(t.trackId) ?? base) - base;
        this.shift.set(t.trackId, shift);
      }
      if (shift !== 0n) shifted = true;
      this.nextDecode.set(t.trackId, base + shift + BigInt(t.durationTicks));
    }
    if (shifted) retimeFragment(f.data, (trackId, current) => current + (this.shift.get(trackId) ?? 0n));
  }

  private async finishFile(): Promise<'again' | 'finished'> {
    await this.closeFile();
    this.nextFile();
    return 'again';
  }

  private nextFile(): void {
    this.seq++;
    // Later files of the run are read whole (their init is the run's, not passed on again).
    this.offset = this.sentInit ? 0 : undefined;
    this.splitter = new Fmp4StreamSplitter();
    this.shift = new Map();
    this.firstFile = !this.sentInit;
    this.fileFirstS = undefined;
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch((err: unknown) => this.d.log.warn({ err }, 'live: closing a segment file failed'));
  }

  private nap(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.d.pollMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }
}

function lastKeyframe(fragments: readonly FragmentInfo[]): FragmentInfo | undefined {
  for (let i = fragments.length - 1; i >= 0; i--) if (fragments[i]?.startsWithKeyframe) return fragments[i];
  return undefined;
}
