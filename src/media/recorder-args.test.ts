import { basename, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AUD_FILTER_FAILED,
  buildRecorderArgs,
  nextAudioAfterRefusal,
  parseSegmentListLine,
  PROGRESS_FD,
  SEGMENT_LIST_FD,
  ProgressParser,
  type RecorderArgsInput,
} from './recorder-args.js';
import { OPEN_SEGMENT_NAME_PATTERN, openSegmentNamePattern, SEGMENT_NAME_PATTERN, segmentFileName } from '../storage/segment-names.js';

const HOSTILE_URL = 'rtsp://u:p;rm -rf ~$(touch /tmp/x)@h:554/../../etc/passwd?a=1&b=2|c';

const input = (over: Partial<RecorderArgsInput> = {}): RecorderArgsInput => ({
  url: 'rtsp://cam.local/live',
  outputDir: '/var/lib/vigil/recordings/front',
  segmentSeconds: 60,
  socketTimeoutSeconds: 10,
  fileNamePattern: openSegmentNamePattern('r1a2b3'),
  ...over,
});

/** The value following `flag` in argv. */
function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

/** The argv split into input part, the segment output (ends with the file pattern) and the live output. */
function outputs(args: string[]) {
  const input = args.indexOf('-i') + 2;
  const pattern = args.findIndex((a) => a.endsWith('-%06d.mp4'));
  return { segment: args.slice(input, pattern + 1), live: args.slice(pattern + 1), pattern: args[pattern] as string };
}

describe('buildRecorderArgs', () => {
  it('passes a URL with shell metacharacters and ../ as exactly one argv element right after -i', () => {
    const args = buildRecorderArgs(input({ url: HOSTILE_URL }));
    expect(args.filter((a) => a === '-i')).toHaveLength(1);
    expect(valueOf(args, '-i')).toBe(HOSTILE_URL);
    // No other element carries any part of it (nothing was split or re-quoted).
    expect(args.filter((a) => a.includes('touch') || a.includes('passwd') || a.includes('rm -rf'))).toEqual([HOSTILE_URL]);
  });

  it('records RTSP over TCP as a stream copy of the first video stream into fMP4 segments', () => {
    const all = buildRecorderArgs(input({ segmentSeconds: 17 }));
    expect(valueOf(all, '-rtsp_transport')).toBe('tcp');
    const args = outputs(all).segment;
    expect(valueOf(args, '-c')).toBe('copy');
    expect(valueOf(args, '-f')).toBe('segment');
    expect(valueOf(args, '-segment_time')).toBe('17');
    expect(valueOf(args, '-map')).toBe('0:v:0');
    const movflags = valueOf(args, '-segment_format_options') ?? '';
    expect(movflags).toMatch(/movflags=\S*\+frag_keyframe/);
    expect(movflags).toContain('+empty_moov');
    expect(movflags).toContain('+default_base_moof');
  });

  it('drops the access unit delimiters of the codec it records (H.265: type 35; H.264 or unknown: type 9), after -i, unless told not to', () => {
    for (const [codec, type] of [['h264', 9], [undefined, 9], ['h265', 35]] as const) {
      const args = buildRecorderArgs(input({ videoCodec: codec }));
      expect(valueOf(args, '-bsf:v')).toBe(`filter_units=remove_types=${type}`);
      expect(args.indexOf('-bsf:v')).toBeGreaterThan(args.indexOf('-i'));
    }
    expect(buildRecorderArgs(input({ dropAud: false }))).not.toContain('-bsf:v');
    expect(AUD_FILTER_FAILED.test('Error initializing bitstream filter: filter_units')).toBe(true);
    expect(AUD_FILTER_FAILED.test('Connection refused')).toBe(false);
  });

  it('puts input options before -i and output options after it', () => {
    const args = buildRecorderArgs(input());
    const i = args.indexOf('-i');
    expect(args.indexOf('-rtsp_transport')).toBeLessThan(i);
    expect(args.indexOf('-timeout')).toBeLessThan(i);
    for (const flag of ['-map', '-c', '-f', '-segment_time']) expect(args.indexOf(flag)).toBeGreaterThan(i);
  });

  it('starts at the first packet with a quick probe (input options), and analyses the stream without it', () => {
    const quick = buildRecorderArgs(input({ quickProbe: true }));
    const i = quick.indexOf('-i');
    expect(valueOf(quick, '-probesize')).toBe('32');
    expect(valueOf(quick, '-analyzeduration')).toBe('100000');
    expect(quick.indexOf('-probesize')).toBeLessThan(i);
    expect(quick.indexOf('-analyzeduration')).toBeLessThan(i);
    const full = buildRecorderArgs(input());
    expect(full).not.toContain('-probesize');
    expect(full).not.toContain('-analyzeduration');
  });

  it('gives the RTSP socket timeout in microseconds', () => {
    expect(valueOf(buildRecorderArgs(input({ socketTimeoutSeconds: 7 })), '-timeout')).toBe('7000000');
  });

  it('writes the segments inside the output dir, numbered in the run, never by ffmpeg\'s clock', () => {
    const args = buildRecorderArgs(input({ fileNamePattern: openSegmentNamePattern('abc123') }));
    const pattern = outputs(args).pattern;
    expect(dirname(pattern)).toBe('/var/lib/vigil/recordings/front');
    expect(basename(pattern)).toBe('abc123-%06d.mp4');
    // strftime names collide when two segments close within a second (one truncates the other).
    expect(args).not.toContain('-strftime');
    // What ffmpeg makes of the pattern is a name the indexer recognises, and renames.
    const written = basename(pattern).replace('%06d', '000042');
    expect(OPEN_SEGMENT_NAME_PATTERN.exec(written)?.slice(1)).toEqual(['abc123', '000042']);
    const final = segmentFileName(Date.UTC(2024, 2, 9, 7, 5, 1, 999), 'abc123', '000042');
    expect(final).toBe('20240309T070501Z-abc123-000042.mp4');
    expect(SEGMENT_NAME_PATTERN.exec(final)?.slice(1)).toEqual(['20240309T070501Z', 'abc123', '000042']);
    // Files of earlier versions (no number) are still recognised.
    expect(SEGMENT_NAME_PATTERN.exec('20240309T070501Z-abc123.mp4')?.slice(1, 3)).toEqual(['20240309T070501Z', 'abc123']);
    expect(OPEN_SEGMENT_NAME_PATTERN.test(final)).toBe(false);
    expect(OPEN_SEGMENT_NAME_PATTERN.test('.refill-12.part')).toBe(false);
  });

  it('escapes a % in the output dir as %% so ffmpeg leaves it literal', () => {
    const pattern = outputs(buildRecorderArgs(input({ outputDir: '/data/100%disk/%Y/front' }))).pattern;
    expect(dirname(pattern)).toBe('/data/100%%disk/%%Y/front');
    expect(basename(pattern)).toBe('r1a2b3-%06d.mp4');
  });

  it('sends the segment list and progress to pipes, not files', () => {
    const args = buildRecorderArgs(input());
    expect(valueOf(args, '-segment_list')).toMatch(/^pipe:\d+$/);
    expect(valueOf(args, '-progress')).toMatch(/^pipe:\d+$/);
    expect(valueOf(args, '-segment_list')).not.toBe(valueOf(args, '-progress'));
  });

  it('writes the segment files and nothing else: no second output, no fifo, no live pipe (live view reads the files)', () => {
    const args = buildRecorderArgs(input());
    const { live, pattern } = outputs(args);
    expect(pattern.endsWith('.mp4')).toBe(true);
    // The segment file pattern is the last argument: there is no output after it.
    expect(live).toEqual([]);
    expect(args.filter((a) => a === '-f')).toHaveLength(1);
    expect(args).not.toContain('fifo');
  });

  it('uses a distinct fd for each pipe: segment list and progress', () => {
    const fds = [SEGMENT_LIST_FD, PROGRESS_FD];
    expect(new Set(fds).size).toBe(2);
    expect(fds).not.toContain(2); // stderr keeps ffmpeg's messages
    const args = buildRecorderArgs(input());
    expect(args.filter((a) => /^pipe:\d+$/.test(a)).sort()).toEqual(fds.map((fd) => `pipe:${fd}`).sort());
  });
});

describe('parseSegmentListLine', () => {
  it('parses a plain file,start,end line', () => {
    expect(parseSegmentListLine('20240309T070501Z-abc.mp4,0.000000,60.040000')).toEqual({
      fileName: '20240309T070501Z-abc.mp4',
      startSeconds: 0,
      endSeconds: 60.04,
    });
  });

  it('parses a quoted file name that holds a comma and doubled quotes', () => {
    expect(parseSegmentListLine('"a,b ""c"".mp4",12.5,24.75')).toEqual({ fileName: 'a,b "c".mp4', startSeconds: 12.5, endSeconds: 24.75 });
  });

  it('tolerates a trailing carriage return and a slightly negative start', () => {
    expect(parseSegmentListLine('x.mp4,-0.021,5.0\r')).toEqual({ fileName: 'x.mp4', startSeconds: -0.021, endSeconds: 5 });
  });

  it.each(['', 'garbage', 'x.mp4,1', 'x.mp4,a,b', ',1,2', 'x.mp4,1,2,3', 'x.mp4,1.2.3,4'])(
    'returns undefined for %j',
    (line) => {
      expect(parseSegmentListLine(line)).toBeUndefined();
    },
  );
});

describe('ProgressParser', () => {
  it('yields the block with media time and frame on progress=continue', () => {
    const p = new ProgressParser();
    for (const line of ['frame=150', 'fps=25.0', 'out_time_us=6000000', 'out_time=00:00:06.000000']) {
      expect(p.push(line)).toBeUndefined();
    }
    expect(p.push('progress=continue')).toEqual({ outTimeUs: 6_000_000, frame: 150, ended: false });
  });

  it('reports ended on progress=end', () => {
    const p = new ProgressParser();
    p.push('frame=3');
    p.push('out_time_us=120000');
    expect(p.push('progress=end')).toEqual({ outTimeUs: 120_000, frame: 3, ended: true });
  });

  it('starts each block afresh', () => {
    const p = new ProgressParser();
    p.push('frame=10');
    p.push('out_time_us=400000');
    p.push('progress=continue');
    expect(p.push('progress=continue')).toEqual({ outTimeUs: NaN, frame: 0, ended: false });
  });

  it('gives NaN media time when ffmpeg has none yet (N/A) and ignores lines without a key', () => {
    const p = new ProgressParser();
    expect(p.push('no equals sign')).toBeUndefined();
    expect(p.push('=value')).toBeUndefined();
    p.push('out_time_us=N/A');
    const block = p.push('progress=continue');
    expect(block?.outTimeUs).toBeNaN();
    expect(block?.frame).toBe(0);
  });
});

describe('buildRecorderArgs with audio', () => {
  it('off: the first video stream alone, as before audio was recorded', () => {
    const args = outputs(buildRecorderArgs(input({ audio: 'off' }))).segment;
    expect(args.filter((a, i) => args[i - 1] === '-map')).toEqual(['0:v:0']);
    expect(valueOf(args, '-c')).toBe('copy');
    expect(args).not.toContain('-max_interleave_delta');
    expect(buildRecorderArgs(input({ audio: 'off' }))).toEqual(buildRecorderArgs(input()));
  });

  it('copy: the first audio stream too (optional), both stream-copied, with a short interleave wait', () => {
    const args = outputs(buildRecorderArgs(input({ audio: 'copy' }))).segment;
    expect(args.filter((a, i) => args[i - 1] === '-map')).toEqual(['0:v:0', '0:a:0?']);
    expect(valueOf(args, '-c:v')).toBe('copy');
    expect(valueOf(args, '-c:a')).toBe('copy');
    expect(valueOf(args, '-max_interleave_delta')).toBe('500000');
    expect(args).not.toContain('-c');
  });

  it('aac: the audio transcoded to AAC, never the video', () => {
    const args = outputs(buildRecorderArgs(input({ audio: 'aac' }))).segment;
    expect(args.filter((a, i) => args[i - 1] === '-map')).toEqual(['0:v:0', '0:a:0?']);
    expect(valueOf(args, '-c:v')).toBe('copy');
    expect(valueOf(args, '-c:a')).toBe('aac');
    expect(valueOf(args, '-b:a')).toBe('32k');
  });

  it('none: video only, but the quick probe still reads until both streams are described', () => {
    const args = buildRecorderArgs(input({ audio: 'none', quickProbe: true }));
    expect(outputs(args).segment.filter((a, i) => outputs(args).segment[i - 1] === '-map')).toEqual(['0:v:0']);
    expect(valueOf(args, '-probesize')).toBe('5000000');
  });

  it('with audio the quick probe reads past one packet (an audio packet first would leave the video undescribed), still before -i', () => {
    for (const audio of ['copy', 'aac'] as const) {
      const args = buildRecorderArgs(input({ audio, quickProbe: true }));
      const i = args.indexOf('-i');
      expect(valueOf(args, '-probesize')).toBe('5000000');
      expect(valueOf(args, '-analyzeduration')).toBe('100000');
      expect(args.indexOf('-probesize')).toBeLessThan(i);
      expect(valueOf(args, '-i')).toBe('rtsp://cam.local/live');
    }
    expect(buildRecorderArgs(input({ audio: 'copy' }))).not.toContain('-probesize');
  });
});

describe('nextAudioAfterRefusal', () => {
  const MUXER_REFUSED = '[mp4 @ 0x1] [error] Could not find tag for codec pcm_mulaw in stream #1, codec not currently supported in container\n[error] Could not write header for output file #0 (incorrect codec parameters ?): Invalid argument\n';
  const NO_DECODER = '[rtsp @ 0x1] [warning] Could not find codec parameters for stream 1 (Audio: none, 8000 Hz, mono): unknown codec\n[error] Decoder (codec none) not found for input stream #0:1\n';

  it('steps a refused copy down to a transcode, a failed transcode down to video only, naming the codec', () => {
    expect(nextAudioAfterRefusal('copy', MUXER_REFUSED)).toEqual({ next: 'aac', codec: 'pcm_mulaw' });
    expect(nextAudioAfterRefusal('copy', MUXER_REFUSED.replace('pcm_mulaw', 'none'))).toEqual({ next: 'aac', codec: 'none' });
    expect(nextAudioAfterRefusal('aac', NO_DECODER)).toEqual({ next: 'none', codec: 'none' });
  });

  it('leaves every other ending alone: the video refused, a lost camera, audio off or already none', () => {
    expect(nextAudioAfterRefusal('copy', '[mp4 @ 0x1] [error] Could not find tag for codec hevc in stream #0, codec not currently supported in container')).toBeUndefined();
    expect(nextAudioAfterRefusal('copy', 'rtsp://cam/live: Connection refused')).toBeUndefined();
    expect(nextAudioAfterRefusal('aac', '[segment @ 0x1] [error] dimensions not set')).toBeUndefined();
    expect(nextAudioAfterRefusal('off', MUXER_REFUSED)).toBeUndefined();
    expect(nextAudioAfterRefusal('none', NO_DECODER)).toBeUndefined();
  });
});
