import { randomBytes } from 'node:crypto';
import { close as fsClose, closeSync, fstatSync, ftruncateSync, openSync, readSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { systemClock } from '../shared/clock.js';
import { LineSplitter } from './lines.js';

/**
 * How far a file's modification time may lag the write that set it, ms. The kernel stamps files from
 * its coarse clock, which lags the true time by up to one timer tick: 10 ms at the lowest usual
 * `CONFIG_HZ` (100). Measured here: 0–6 ms behind.
 */
export const MTIME_GRAIN_MS = 10;
/** Emptied once this much has been read with nothing of a line pending: a day's reports are ~50 MB. */
export const EMPTY_AT_BYTES = 64 * 1024;
const READ_BYTES = 16 * 1024;

/**
 * Where one ffmpeg writes its `-progress` reports: a file of its own, opened for appending and
 * unlinked at once (nothing is left behind, whatever ends Vigil), given to ffmpeg as an inherited fd.
 *
 * A pipe woke Vigil for every report, two a second per camera: 32 wake-ups a second at 16 cameras,
 * ~0.1–0.2 % of a core on this project's VMs (docs/proof.md, issue 17, nineteenth session). The file
 * is read on the quarter-second tick that already wakes the recorders' watchdogs, so the reports cost
 * no wake-up of their own, and they lose nothing of what a pipe told: the file's modification time is
 * when the last report was written. Each line read by one `read` is given that instant plus `MTIME_GRAIN_MS`,
 * which is never before it was written: the time mapping (invariant 15) needs each report's time as
 * an upper bound of its frame's arrival, and the silence watch needs the last advance's time.
 *
 * Emptied (truncated to 0) now and then so it stays small: ffmpeg appends (O_APPEND is the file
 * description's, shared with ffmpeg), so its next report lands at the start. A report written between
 * the last look at the size and the truncation is lost; that window is a few µs every ~2 minutes,
 * and a lost report is one bound fewer, the next comes half a second later.
 */
export class ProgressFile {
  private offset = 0;
  private readonly decoder = new StringDecoder('utf8');
  private readonly lines: LineSplitter;
  private readonly buf = Buffer.allocUnsafe(READ_BYTES);
  private writtenMs = 0;
  private open = true;

  private constructor(
    readonly fd: number,
    onLine: (line: string, writtenMs: number) => void,
    private readonly now: () => number,
  ) {
    this.lines = new LineSplitter((line) => onLine(line, this.writtenMs));
  }

  /**
   * A new unlinked file in `dir` (the system's temporary folder by default; a few KiB at most). `now`
   * is the clock the lines' instants are given in. Throws when the file cannot be made.
   */
  static create(onLine: (line: string, writtenMs: number) => void, now: () => number, dir = tmpdir()): ProgressFile {
    const path = join(dir, `vigil-progress-${process.pid}-${randomBytes(8).toString('hex')}`);
    // O_EXCL: a name someone made first (a symlink planted in /tmp) is refused, not followed.
    const fd = openSync(path, 'ax+', 0o600);
    try {
      unlinkSync(path);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return new ProgressFile(fd, onLine, now);
  }

  /**
   * Gives every whole line written since the last call, with when it was written at the latest. A
   * read of the file that fails (it should not: the file is Vigil's own and open) gives nothing: the
   * reports stop, and the recorder's silence watch ends the run, whose successor has a new file.
   * What a line's handler throws is thrown.
   */
  read(): void {
    if (!this.open) return;
    let text: string;
    try {
      text = this.readText();
    } catch {
      return;
    }
    if (text) this.lines.push(text);
  }

  /** What was written since the last call, up to the size seen with the modification time (sets `writtenMs`). */
  private readText(): string {
    const st = fstatSync(this.fd);
    // Only up to that size: a report appended meanwhile is later than this modification time, and
    // is read at the next call with its own.
    const end = st.size;
    if (end < this.offset) this.offset = 0;
    if (end === this.offset) return '';
    // The instant in `now`'s terms (a test's clock may be set apart from the system's), in whole ms
    // as every instant Vigil keeps, rounded up (still never before the write).
    const ageMs = Math.floor(systemClock.nowMs() - (st.mtimeMs + MTIME_GRAIN_MS));
    const nowMs = this.now();
    this.writtenMs = ageMs > 0 ? nowMs - ageMs : nowMs;
    let text = '';
    while (this.offset < end) {
      const n = readSync(this.fd, this.buf, 0, Math.min(this.buf.length, end - this.offset), this.offset);
      if (n <= 0) break;
      this.offset += n;
      text += this.decoder.write(this.buf.subarray(0, n));
    }
    // Emptied only at a line's end: the part of a line held would otherwise lose its rest.
    if (this.offset >= EMPTY_AT_BYTES && text.endsWith('\n') && fstatSync(this.fd).size === this.offset) {
      ftruncateSync(this.fd, 0);
      this.offset = 0;
    }
    return text;
  }

  /**
   * Reads what is left (the process has ended: its last line may lack a newline) and closes the file,
   * even when a line's handler throws. The close itself goes to the thread pool: the last close of an
   * unlinked file frees it, which took ~2 ms here, and 64 cameras stopping together would each hold
   * the event loop that long.
   */
  close(): Promise<void> {
    if (!this.open) return Promise.resolve();
    let closed: Promise<void> | undefined;
    try {
      this.read();
    } finally {
      this.open = false;
      closed = new Promise<void>((resolve) => fsClose(this.fd, () => resolve()));
    }
    this.lines.push(this.decoder.end());
    this.lines.end();
    return closed;
  }
}
