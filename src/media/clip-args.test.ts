import { describe, expect, it } from 'vitest';
import { buildClipArgs, buildConcatList, CLIP_MOVFLAGS, quoteConcatPath } from './clip-args.js';

/** The value following `flag` in argv. */
function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

/**
 * Reads a path back the way ffmpeg's concat demuxer does (av_get_token): single quotes are taken
 * literally, a backslash outside quotes escapes the next character.
 */
function unquote(token: string): string {
  let out = '';
  for (let i = 0; i < token.length; i++) {
    const c = token[i] as string;
    if (c === "'") {
      const end = token.indexOf("'", i + 1);
      out += token.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      out += token[++i] ?? '';
    } else {
      out += c;
    }
  }
  return out;
}

describe('buildClipArgs', () => {
  const args = buildClipArgs();

  it('remuxes with stream copy only: -c copy, no encoder, no filter', () => {
    expect(valueOf(args, '-c')).toBe('copy');
    expect(args.some((a) => a.startsWith('-c:v') || a === '-vf' || a === '-filter_complex')).toBe(false);
    expect(valueOf(args, '-map')).toBe('0:v:0');
  });

  it('reads a concat list from stdin, limited to local files, and writes fragmented MP4 to stdout', () => {
    const i = args.indexOf('-i');
    expect(valueOf(args, '-f')).toBe('concat');
    expect(args.indexOf('-f')).toBeLessThan(i);
    expect(valueOf(args, '-i')).toBe('pipe:0');
    expect(valueOf(args, '-protocol_whitelist')).toBe('file,pipe');
    expect(args.at(-1)).toBe('pipe:1');
    expect(args.at(-2)).toBe('mp4');
  });

  it('keeps the pre-roll timestamps (-copyts) and delays the moov so the muxer writes an edit list', () => {
    expect(args).toContain('-copyts');
    expect(valueOf(args, '-movflags')).toBe(CLIP_MOVFLAGS);
    for (const f of ['+frag_keyframe', '+empty_moov', '+delay_moov', '+default_base_moof']) expect(CLIP_MOVFLAGS).toContain(f);
  });

  it('exits with an error when a file cannot be read mid-clip (-xerror) instead of ending it early with status 0', () => {
    expect(args.indexOf('-xerror')).toBeGreaterThanOrEqual(0);
    expect(args.indexOf('-xerror')).toBeLessThan(args.indexOf('-i'));
  });

  it('keeps each file\'s parameter sets in-band (-auto_convert 1), so a change of camera settings mid-clip still decodes', () => {
    expect(valueOf(args, '-auto_convert')).toBe('1');
  });

  it('carries no path at all: the files are named only in the list on stdin', () => {
    expect(args.some((a) => a.includes('/'))).toBe(false);
  });
});

describe('buildConcatList', () => {
  it('names each file once, in order, with inpoint on the first and outpoint on the last', () => {
    const list = buildConcatList([
      { absPath: '/data/recordings/cam/a.mp4', inpointSeconds: 1.5 },
      { absPath: '/data/recordings/cam/b.mp4' },
      { absPath: '/data/recordings/cam/c.mp4', outpointSeconds: 0.25 },
    ]);
    expect(list).toBe(
      [
        'ffconcat version 1.0',
        "file 'file:/data/recordings/cam/a.mp4'",
        'inpoint 1.500000',
        "file 'file:/data/recordings/cam/b.mp4'",
        "file 'file:/data/recordings/cam/c.mp4'",
        'outpoint 0.250000',
        '',
      ].join('\n'),
    );
  });

  it('quotes a path with quotes, spaces and shell or list syntax as one file directive that reads back unchanged', () => {
    const hostile = "/data/recordings/cam/it's a $(touch x) #file\\ \noutpoint 1.mp4".replace('\n', ' ');
    const list = buildConcatList([{ absPath: hostile }]);
    const lines = list.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const token = (lines[1] as string).slice('file '.length);
    expect(unquote(token)).toBe(`file:${hostile}`);
  });

  it('refuses control characters (a newline would start a new directive) and relative paths', () => {
    expect(() => quoteConcatPath('/data/a\nfile /etc/passwd')).toThrow(/control character/);
    expect(() => quoteConcatPath('/data/a\u0000b')).toThrow(/control character/);
    expect(() => quoteConcatPath('recordings/cam/a.mp4')).toThrow(/not absolute/);
  });

  it('writes cuts to the microsecond, an inpoint never before the instant asked for (a keyframe\'s own time)', () => {
    // A keyframe at 84005/90000 s: to the millisecond (0.933) it would lie before the keyframe, and ffmpeg
    // would enter the file a GOP early, its frames stamped before the part's start.
    const list = buildConcatList([{ absPath: '/a.mp4', inpointSeconds: 84005 / 90000, outpointSeconds: 2 / 3 }]);
    expect(list).toContain('inpoint 0.933389\n');
    expect(list).toContain('outpoint 0.666667\n');
    expect(buildConcatList([{ absPath: '/a.mp4', inpointSeconds: 1.5 }])).toContain('inpoint 1.500000\n');
  });

  it('refuses a negative or non-finite cut', () => {
    expect(() => buildConcatList([{ absPath: '/a.mp4', inpointSeconds: -1 }])).toThrow();
    expect(() => buildConcatList([{ absPath: '/a.mp4', outpointSeconds: Number.NaN }])).toThrow();
  });
});
