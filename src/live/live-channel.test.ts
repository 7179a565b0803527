import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { Fmp4StreamSplitter, type LiveFragment, type LiveInit } from '../media/fmp4/stream.js';
import { liveOutputArgs } from '../media/live-args.js';
import { sleep } from '../shared/sleep.js';
import { LIVE_CLOSE, LiveChannel, type LiveChannelOptions, type ViewerConnection } from './live-channel.js';

const run = promisify(execFile);
/** 4 s of 15 fps H.264, 1 s GOP, as the live output writes it: 4 GOPs of 5 fragments (≤ 200 ms each). */
let bytes: Buffer;
let init: LiveInit;
let fragments: LiveFragment[];

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-live-channel-'));
  try {
    const src = join(dir, 'src.mp4');
    await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=15', '-t', '4', '-c:v', 'libx264', '-g', '15', '-pix_fmt', 'yuv420p', src]);
    await run('ffmpeg', ['-v', 'error', '-i', src, ...liveOutputArgs(join(dir, 'live.mp4'))]);
    bytes = await readFile(join(dir, 'live.mp4'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const chunks = new Fmp4StreamSplitter().push(bytes);
  init = (chunks.find((c) => c.kind === 'init') as { init: LiveInit }).init;
  fragments = chunks.flatMap((c) => (c.kind === 'fragment' ? [c.fragment] : []));
}, 30_000);

/** A connection that records what it was sent; its backlog is set by the test. */
class RecordingConnection implements ViewerConnection {
  backlog = 0;
  readonly sent: Array<{ text?: { type: string; [k: string]: unknown }; binary?: Buffer }> = [];
  closed: { code: number; reason: string } | undefined;
  bufferedBytes = () => this.backlog;
  sendText(text: string) {
    this.sent.push({ text: JSON.parse(text) as { type: string } });
  }
  sendBinary(data: Buffer) {
    this.sent.push({ binary: data });
  }
  close(code: number, reason: string) {
    this.closed = { code, reason };
  }
  types() {
    return this.sent.map((m) => m.text?.type ?? (m.binary?.equals(init.data) ? 'init-segment' : fragments.find((f) => f.data.equals(m.binary as Buffer))?.keyframe ? 'key' : 'frag'));
  }
}

function channel(options: Partial<LiveChannelOptions> = {}, clock = { nowMs: () => Date.now() }) {
  return new LiveChannel('cam', 'main', {
    clock,
    log: pino({ level: 'silent' }),
    options: { maxBufferedBytes: 1_000_000, maxGopBytes: 10_000_000, offlineCloseMs: 30_000, ...options },
  });
}

/** Pushes the init and the first `n` fragments of the fixture as run `run` of `ch`. */
function feed(ch: LiveChannel, run: number, from: number, to: number) {
  if (from === 0) ch.push(run, init.data);
  for (const f of fragments.slice(from, to)) ch.push(run, f.data);
}

describe('LiveChannel', () => {
  it('gives a viewer who joins mid-GOP the init and every fragment since the latest keyframe, at once', () => {
    const ch = channel();
    const run = ch.begin();
    expect(fragments.map((f) => f.keyframe).slice(0, 6)).toEqual([true, false, false, false, false, true]);
    feed(ch, run, 0, 8); // 2nd GOP: fragments 5, 6, 7
    const c = new RecordingConnection();
    ch.add(c);
    expect(c.types()).toEqual(['init', 'init-segment', 'key', 'frag', 'frag']);
    expect(c.sent[2]?.binary?.equals(fragments[5]?.data as Buffer)).toBe(true);
    expect(c.sent[0]?.text).toMatchObject({ type: 'init', mime: init.mime, width: 320, height: 240, generation: 1 });
    feed(ch, run, 8, 9);
    expect(c.types().at(-1)).toBe('frag');
  });

  it('drops fragments for a backed-up viewer, then resumes it at a keyframe once drained, saying how many it missed', () => {
    const ch = channel({ maxBufferedBytes: 100_000 });
    const run = ch.begin();
    const c = new RecordingConnection();
    const v = ch.add(c);
    feed(ch, run, 0, 2);
    c.backlog = 100_000; // the socket is full
    feed(ch, run, 2, 6); // 2, 3, 4 and the keyframe 5: all dropped
    expect(v.dropped).toBe(4);
    c.backlog = 0; // drained, but fragment 6 is not a keyframe: it still waits
    feed(ch, run, 6, 10);
    expect(v.dropped).toBe(8);
    feed(ch, run, 10, 12); // keyframe 10
    // It joined before the stream had begun: offline first, then the init when it came.
    expect(c.types()).toEqual(['offline', 'init', 'init-segment', 'key', 'frag', 'resume', 'key', 'frag']);
    expect(c.sent[5]?.text).toEqual({ type: 'resume', dropped_fragments: 8 });
    expect(ch.stats().droppedFragments).toBe(8);
  });

  it('resumes only once the socket drained below half the bound', () => {
    const ch = channel({ maxBufferedBytes: 100_000 });
    const run = ch.begin();
    const c = new RecordingConnection();
    ch.add(c);
    feed(ch, run, 0, 1);
    c.backlog = 99_999;
    feed(ch, run, 1, 5);
    c.backlog = 60_000; // below the bound, above half of it
    feed(ch, run, 5, 6);
    expect(c.types().filter((t) => t === 'key')).toHaveLength(1);
    c.backlog = 10_000;
    feed(ch, run, 10, 11);
    expect(c.types().slice(-2)).toEqual(['resume', 'key']);
  });

  it('says offline when a run ends, and sends a new init when the next run starts; a stale run is ignored', () => {
    const ch = channel();
    const first = ch.begin();
    const c = new RecordingConnection();
    ch.add(c);
    feed(ch, first, 0, 3);
    ch.end(first);
    expect(c.types().at(-1)).toBe('offline');
    expect(ch.stats().online).toBe(false);
    const second = ch.begin();
    ch.push(first, fragments[3]?.data as Buffer); // a late chunk of the old run
    feed(ch, second, 0, 2);
    expect(c.types()).toEqual(['offline', 'init', 'init-segment', 'key', 'frag', 'frag', 'offline', 'init', 'init-segment', 'key', 'frag']);
    expect(c.sent[7]?.text).toMatchObject({ type: 'init', generation: 2 });
    // A viewer joining now gets only the new run's data.
    const late = new RecordingConnection();
    ch.add(late);
    expect(late.types()).toEqual(['init', 'init-segment', 'key', 'frag']);
  });

  it('does not keep a GOP larger than the bound for joiners: they wait for the next keyframe', () => {
    const gopBytes = fragments.slice(0, 5).reduce((s, f) => s + f.data.length, 0);
    const ch = channel({ maxGopBytes: gopBytes - 1 });
    const run = ch.begin();
    feed(ch, run, 0, 5);
    const c = new RecordingConnection();
    ch.add(c);
    expect(c.types()).toEqual(['init', 'init-segment']);
    feed(ch, run, 5, 6);
    expect(c.types().at(-1)).toBe('key');
  });

  it('closes a viewer that waited offlineCloseMs without a stream', async () => {
    const ch = channel({ offlineCloseMs: 50 });
    const c = new RecordingConnection();
    ch.add(c);
    expect(c.types()).toEqual(['offline']);
    await sleep(120);
    expect(c.closed?.code).toBe(LIVE_CLOSE.offline);
    expect(ch.viewerCount).toBe(0);
    // One that gets a stream in time stays.
    const ch2 = channel({ offlineCloseMs: 80 });
    const c2 = new RecordingConnection();
    ch2.add(c2);
    feed(ch2, ch2.begin(), 0, 1);
    await sleep(150);
    expect(c2.closed).toBeUndefined();
  });

  it('measures the bitrate of the last 5 s of fragments over whole GOPs of their media time, and has none once the stream is silent', () => {
    let now = 1_000_000;
    const ch = channel({}, { nowMs: () => now });
    const run = ch.begin();
    ch.push(run, init.data);
    // All at once, as a follower catching up reads them: the rate is the media's, not the arrivals'.
    for (const f of fragments) ch.push(run, f.data);
    const keys = fragments.flatMap((f, i) => (f.keyframe ? [i] : []));
    expect(keys.length).toBeGreaterThanOrEqual(3);
    // The media fragments only (the init is no part of the stream's rate), from the first keyframe to the last.
    const whole = fragments.slice(keys[0], keys.at(-1));
    const bytes = whole.reduce((s, f) => s + f.data.length, 0);
    const seconds = whole.reduce((s, f) => s + f.durationSeconds, 0);
    expect(seconds).toBeCloseTo((keys.length - 1) * 1, 3);
    expect(ch.stats().bitrateBps).toBe(Math.round((bytes * 8) / seconds));
    now += 6_000;
    expect(ch.stats().bitrateBps).toBeNull();
  });

  it('keeps backlog fragments (on disk before the stream was followed) for joiners but leaves them out of the bitrate', () => {
    const ch = channel();
    const run = ch.begin();
    ch.pushChunk(run, { kind: 'init', init });
    for (const f of fragments.slice(0, 3)) ch.pushChunk(run, { kind: 'fragment', fragment: f }, true);
    expect(ch.stats().bitrateBps).toBeNull();
    const c = new RecordingConnection();
    ch.add(c);
    expect(c.types()).toEqual(['init', 'init-segment', 'key', 'frag', 'frag']);
  });
});

