import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { buildClipArgs, buildConcatList } from './clip-args.js';
import { buildRecorderArgs } from './recorder-args.js';
import { codecFamily, rewriteHev1AsHvc1, videoCodecOfFile } from './video-codec.js';

const run = promisify(execFile);
let dir: string;

/** A 1-s fragmented HEVC file as the recorder's ffmpeg writes it, with the sample entry `tag`. */
async function hevcFile(name: string, tag: 'hev1' | 'hvc1', size = '320x180'): Promise<string> {
  const f = join(dir, name);
  await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=15`, '-t', '1', '-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error:keyint=15',
    '-tag:v', tag, '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', f]);
  return f;
}

async function framemd5(f: string): Promise<string> {
  return (await run('ffmpeg', ['-v', 'error', '-i', f, '-f', 'framemd5', '-'])).stdout.split('\n').filter((l) => l && !l.startsWith('#')).join('\n');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-codec-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('video codec families', () => {
  it('tells H.264 and H.265 by the codec string\'s sample entry, and nothing else', () => {
    expect(['avc1.64001e', 'avc3.42e01f', 'hvc1.1.6.L90.90', 'hev1.1.6.L93.B0', 'mp4v.20.9', '', null, undefined].map(codecFamily)).toEqual(['h264', 'h264', 'h265', 'h265', undefined, undefined, undefined, undefined]);
  });

  it('the recorder argv asks for hvc1 for H.265 only (ffmpeg refuses that tag for H.264)', () => {
    const base = { url: 'rtsp://cam/x', outputDir: '/d', fileNamePattern: 'r-%06d.mp4', segmentSeconds: 60, socketTimeoutSeconds: 10 };
    const tagOf = (a: string[]) => (a.includes('-tag:v') ? a[a.indexOf('-tag:v') + 1] : undefined);
    expect(tagOf(buildRecorderArgs({ ...base, videoCodec: 'h265' }))).toBe('hvc1');
    expect(tagOf(buildRecorderArgs({ ...base, videoCodec: 'h264' }))).toBeUndefined();
    expect(tagOf(buildRecorderArgs(base))).toBeUndefined();
  });
});

describe('rewriting a hev1 file as hvc1', () => {
  it('gives the file the entry and hvcC ffmpeg writes with -tag:v hvc1, and the same frames', async () => {
    const hev1 = await hevcFile('a.mp4', 'hev1');
    const hvc1 = await hevcFile('b.mp4', 'hvc1');
    const before = await framemd5(hev1);
    expect(await videoCodecOfFile(hev1)).toMatch(/^hev1\./);
    expect(await rewriteHev1AsHvc1(hev1)).toBe(true);
    const codec = await videoCodecOfFile(hev1);
    expect(codec).toMatch(/^hvc1\./);
    expect(codec).toBe(await videoCodecOfFile(hvc1));
    const probe = (await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_tag_string', '-of', 'csv=p=0', hev1])).stdout.trim();
    expect(probe).toBe('hvc1');
    expect(await framemd5(hev1)).toBe(before);
    // Byte for byte the moov ffmpeg writes for hvc1 (the same encode: x265 is deterministic here).
    const [a, b] = await Promise.all([readFile(hev1), readFile(hvc1)]);
    const moovOf = (buf: Buffer) => buf.subarray(buf.indexOf('moov') - 4, buf.indexOf('moov') - 4 + buf.readUInt32BE(buf.indexOf('moov') - 4));
    expect(moovOf(a).equals(moovOf(b))).toBe(true);
    // Once is enough: a file already hvc1 (or not HEVC) is left as it is.
    expect(await rewriteHev1AsHvc1(hev1)).toBe(false);
  });

  it('leaves a file without a whole moov alone', async () => {
    const f = join(dir, 'cut.mp4');
    await writeFile(f, (await readFile(await hevcFile('c.mp4', 'hev1'))).subarray(0, 100));
    expect(await videoCodecOfFile(f)).toBeUndefined();
    expect(await rewriteHev1AsHvc1(f)).toBe(false);
  });
});

describe('a clip of H.265 footage made by ffmpeg (files whose codec configuration differs: no join in Node)', () => {
  it('writes the hvc1 entry with the clip argv for H.265, whatever the files hold (an edge refill\'s hev1)', async () => {
    // Stream copy keeps an hvc1 source's entry by itself; from hev1 files only the tag makes the clip hvc1.
    const parts = [{ absPath: await hevcFile('s.mp4', 'hev1') }, { absPath: await hevcFile('l.mp4', 'hev1', '640x360') }];
    const clip = async (videoCodec?: 'h265'): Promise<string> => {
      const out = join(dir, `clip-${videoCodec ?? 'none'}.mp4`);
      await new Promise<void>((resolve, reject) => {
        const child = spawn('ffmpeg', buildClipArgs({ videoCodec }), { stdio: ['pipe', 'pipe', 'inherit'] });
        const chunks: Buffer[] = [];
        child.stdout.on('data', (c: Buffer) => chunks.push(c));
        child.stdin.end(buildConcatList(parts));
        child.once('error', reject);
        child.once('close', (code) => (code === 0 ? writeFile(out, Buffer.concat(chunks)).then(resolve, reject) : reject(new Error(`ffmpeg exited ${code}`))));
      });
      return out;
    };
    expect(await videoCodecOfFile(await clip('h265'))).toMatch(/^hvc1\./);
    expect(await videoCodecOfFile(await clip())).toMatch(/^hev1\./);
  });
});
