import { closeSync, fstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { firstReportTick, spawnRecorder, type RecorderHandlers } from './ffmpeg-process.js';
import { EMPTY_AT_BYTES, ProgressFile } from './progress-file.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'progress-file-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('ffmpeg progress file', () => {
  it('leaves no name behind and gives whole lines, a line cut between reads once whole', async () => {
    const dir = tempDir();
    const lines: string[] = [];
    const file = ProgressFile.create((l) => lines.push(l), () => Date.now(), dir);
    expect(readdirSync(dir)).toEqual([]);
    writeSync(file.fd, 'frame=15\nout_time_us=10');
    file.read();
    expect(lines).toEqual(['frame=15']);
    writeSync(file.fd, '00000\r\nprogress=continue\n');
    file.read();
    expect(lines).toEqual(['frame=15', 'out_time_us=1000000', 'progress=continue']);
    file.read();
    expect(lines).toHaveLength(3);
    writeSync(file.fd, 'progress=end');
    await file.close();
    expect(lines.at(-1)).toBe('progress=end');
    expect(() => fstatSync(file.fd)).toThrow();
    file.read();
  });

  it('times each line at or after its write, in the clock it was given', async () => {
    const lines: Array<{ line: string; at: number }> = [];
    // A clock an hour ahead of the system's: the instants follow it.
    const aheadMs = 3_600_000;
    const file = ProgressFile.create((line, at) => lines.push({ line, at }), () => Date.now() + aheadMs, tempDir());
    const writtenAfter = Date.now();
    writeSync(file.fd, 'out_time_us=1\nprogress=continue\n');
    const writtenBefore = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    file.read();
    expect(lines).toHaveLength(2);
    for (const { at } of lines) {
      // Whole ms, as the catalog keeps instants (its integer columns refuse a fraction).
      expect(Number.isInteger(at)).toBe(true);
      // Never before the write (an upper bound of when its frame arrived), and not the read's own
      // instant 300 ms later.
      expect(at - aheadMs).toBeGreaterThanOrEqual(writtenAfter);
      expect(at - aheadMs).toBeLessThan(writtenBefore + 100);
    }
    await file.close();
  });

  it('empties itself once large and read to a line end, and goes on from its start', async () => {
    const lines: string[] = [];
    const file = ProgressFile.create((l) => lines.push(l), () => Date.now(), tempDir());
    const block = 'frame=1\nout_time_us=1\nprogress=continue\n';
    const blocks = Math.ceil(EMPTY_AT_BYTES / block.length);
    for (let i = 0; i < blocks; i++) writeSync(file.fd, block);
    file.read();
    expect(lines).toHaveLength(3 * blocks);
    expect(fstatSync(file.fd).size).toBe(0);
    // Appending (as ffmpeg's fd does) lands at the start again.
    writeSync(file.fd, 'frame=2\n');
    file.read();
    expect(lines.at(-1)).toBe('frame=2');
    expect(fstatSync(file.fd).size).toBe(8);
    await file.close();
  });

  it('is not emptied while part of a line waits for its end', async () => {
    const lines: string[] = [];
    const file = ProgressFile.create((l) => lines.push(l), () => Date.now(), tempDir());
    writeSync(file.fd, 'x'.repeat(EMPTY_AT_BYTES) + '\nfra');
    file.read();
    expect(fstatSync(file.fd).size).toBe(EMPTY_AT_BYTES + 4);
    writeSync(file.fd, 'me=3\n');
    file.read();
    expect(lines.at(-1)).toBe('frame=3');
    expect(fstatSync(file.fd).size).toBe(0);
    await file.close();
  });
  it("throws what a line's handler throws, and nothing for a read that fails", async () => {
    const file = ProgressFile.create(() => {
      throw new Error('handler bug');
    }, () => Date.now(), tempDir());
    writeSync(file.fd, 'frame=1\n');
    // A bug in the handler is not hidden.
    expect(() => file.read()).toThrow('handler bug');
    // The file's fd gone from under it: the read fails, quietly (the silence watch takes it from there).
    closeSync(file.fd);
    expect(() => file.read()).not.toThrow();
    await file.close();
  });
  it('closes its file at the close even when a line handler throws there', async () => {
    const file = ProgressFile.create((line) => {
      if (line === 'progress=end') throw new Error('handler bug');
    }, () => Date.now(), tempDir());
    writeSync(file.fd, 'frame=1\nprogress=end\n');
    expect(() => file.close()).toThrow('handler bug');
    await new Promise((r) => setTimeout(r, 50));
    expect(() => fstatSync(file.fd)).toThrow();
  });
});

describe('the recorder process', () => {
  it("writes its progress to a file (no pipe to wake Vigil), read on the quarter-second tick and closed when it ends", async () => {
    const reports: Array<{ outTimeUs: number; frame: number; wallMs: number }> = [];
    const handlers: RecorderHandlers = {
      onSegment: () => undefined,
      onProgress: (outTimeUs, frame, wallMs) => reports.push({ outTimeUs, frame, wallMs }),
    };
    // What ffmpeg's `-progress pipe:3` does: blocks written to fd 3, then `progress=end` at the end.
    const script = 'printf "frame=3\\nout_time_us=200000\\nprogress=continue\\n" >&3; sleep 1; printf "frame=9\\nout_time_us=600000\\nprogress=end\\n" >&3; sleep 0.3';
    const startedMs = Date.now();
    const proc = spawnRecorder('/bin/sh', ['-c', script], handlers, () => Date.now());
    await new Promise((r) => setTimeout(r, 400));
    const fd3 = readlinkSync(`/proc/${proc.pid}/fd/3`);
    expect(fd3).toMatch(/vigil-progress-.* \(deleted\)$/);
    expect(reports).toEqual([{ outTimeUs: 200_000, frame: 3, wallMs: expect.any(Number) }]);
    expect(reports[0]?.wallMs).toBeGreaterThanOrEqual(startedMs);
    await proc.exited;
    expect(reports.map((r) => r.frame)).toEqual([3, 9]);
    // The second block was written ~1 s after the first, and is timed so.
    expect((reports[1]?.wallMs ?? 0) - (reports[0]?.wallMs ?? 0)).toBeGreaterThan(800);
  });

  it('reports through a pipe, read as it comes, where no progress file can be made', async () => {
    const frames: number[] = [];
    const handlers: RecorderHandlers = { onSegment: () => undefined, onProgress: (_o, frame) => frames.push(frame) };
    const before = process.env['TMPDIR'];
    process.env['TMPDIR'] = join(tempDir(), 'gone');
    let proc: ReturnType<typeof spawnRecorder>;
    try {
      proc = spawnRecorder('/bin/sh', ['-c', 'printf "frame=4\\nout_time_us=300000\\nprogress=continue\\n" >&3; sleep 0.5'], handlers, () => Date.now());
    } finally {
      if (before === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = before;
    }
    await new Promise((r) => setTimeout(r, 200));
    // Node makes a stdio pipe of a socket pair.
    expect(readlinkSync(`/proc/${proc.pid}/fd/3`)).toMatch(/^(?:pipe|socket):/);
    await proc.exited;
    expect(frames).toEqual([4]);
  });

  it('reads the progress file at a faster tick until the first report of media muxed, and no longer', async () => {
    const frames: number[] = [];
    const handlers: RecorderHandlers = { onSegment: () => undefined, onProgress: (_o, frame) => frames.push(frame) };
    // A report with no media yet (ffmpeg's first may say out_time 0), then one with media.
    const script = 'sleep 0.3; printf "frame=0\\nout_time_us=0\\nprogress=continue\\n" >&3; sleep 0.4; printf "frame=2\\nout_time_us=100000\\nprogress=continue\\n" >&3; sleep 0.6';
    const proc = spawnRecorder('/bin/sh', ['-c', script], handlers, () => Date.now());
    expect(firstReportTick.running).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(frames).toEqual([0]);
    expect(firstReportTick.running).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(frames).toEqual([0, 2]);
    expect(firstReportTick.running).toBe(false);
    await proc.exited;
    // A run that ends before any report of media stops watching too.
    const silent = spawnRecorder('/bin/sh', ['-c', 'sleep 0.2'], handlers, () => Date.now());
    expect(firstReportTick.running).toBe(true);
    await silent.exited;
    expect(firstReportTick.running).toBe(false);
  });
});
