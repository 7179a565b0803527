import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFmp4Head, readFmp4HeadBuffer } from './head.js';
import { Fmp4Error, scanFmp4Buffer } from './scan.js';

const run = promisify(execFile);
const src = ['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=15', '-t', '3', '-c:v', 'libx264', '-g', '15', '-pix_fmt', 'yuv420p'];

let dir: string;
let fragmented: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-fmp4-head-'));
  // The recorder's muxer flags: ftyp, moov, then one moof+mdat per keyframe.
  await run('ffmpeg', ['-v', 'error', '-y', ...src, '-movflags', '+frag_keyframe+empty_moov+default_base_moof', join(dir, 'frag.mp4')]);
  await run('ffmpeg', ['-v', 'error', '-y', ...src, join(dir, 'plain.mp4')]);
  fragmented = await readFile(join(dir, 'frag.mp4'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The buffer with the first tfdt set to `ticks` (as a file continuing an earlier one's timeline would carry). */
function withFirstDecodeTime(buf: Buffer, ticks: number): Buffer {
  const out = Buffer.from(buf);
  const at = out.indexOf('tfdt', 0, 'latin1');
  if (out.readUInt8(at + 4) === 1) out.writeBigUInt64BE(BigInt(ticks), at + 8);
  else out.writeUInt32BE(ticks, at + 8);
  return out;
}

describe('readFmp4Head', () => {
  it('finds where ftyp+moov end: the first fragment starts right there', async () => {
    const head = await readFmp4Head(join(dir, 'frag.mp4'));
    const scan = scanFmp4Buffer(fragmented);
    expect(head.fileSizeBytes).toBe(fragmented.length);
    expect(head.initLengthBytes).toBe(scan.initEndOffset);
    expect(fragmented.toString('latin1', 4, 8)).toBe('ftyp');
    expect(fragmented.toString('latin1', head.initLengthBytes + 4, head.initLengthBytes + 8)).toBe('moof');
    // ftyp's size plus moov's size is the init length.
    const ftypSize = fragmented.readUInt32BE(0);
    expect(fragmented.toString('latin1', ftypSize + 4, ftypSize + 8)).toBe('moov');
    expect(ftypSize + fragmented.readUInt32BE(ftypSize)).toBe(head.initLengthBytes);
    expect(head.firstDecodeSeconds).toBe(0);
  });

  it('reads the first fragment\'s decode time in seconds of the video timescale', () => {
    const scan = scanFmp4Buffer(fragmented);
    const timescale = scan.tracks[0]?.timescale ?? 0;
    expect(timescale).toBeGreaterThan(0);
    const shifted = withFirstDecodeTime(fragmented, 7 * timescale);
    expect(readFmp4HeadBuffer(shifted).firstDecodeSeconds).toBe(7);
    expect(scanFmp4Buffer(shifted).firstDecodeTimeSeconds).toBe(7);
  });

  it('refuses what is not a whole fragmented MP4 head', async () => {
    const reason = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return err instanceof Fmp4Error ? err.reason : String(err);
      }
      return 'no error';
    };
    expect(reason(() => readFmp4HeadBuffer(Buffer.from('not an mp4 file at all, just text')))).toBe('not_mp4');
    const initLength = readFmp4HeadBuffer(fragmented).initLengthBytes;
    expect(reason(() => readFmp4HeadBuffer(fragmented.subarray(0, initLength - 10)))).toBe('truncated_init');
    expect(reason(() => readFmp4HeadBuffer(Buffer.from(fragmented.subarray(0, initLength))))).toBe('no error');
    await expect(readFmp4Head(join(dir, 'plain.mp4'))).rejects.toMatchObject({ reason: 'not_fragmented' });
    await writeFile(join(dir, 'empty.mp4'), '');
    await expect(readFmp4Head(join(dir, 'empty.mp4'))).rejects.toMatchObject({ reason: 'truncated_init' });
  });
});
