import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../test/support/harness.js';
import { deleteCamera, getCamera, updateCamera, upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type OpenedDb } from '../db/connection.js';
import { EventLog } from '../events/event-log.js';
import { Fmp4StreamSplitter } from '../media/fmp4/stream.js';
import { liveOutputArgs } from '../media/live-args.js';
import type { ExitInfo } from '../media/child.js';
import type { LiveStreamLauncher } from '../media/live-process.js';
import { systemClock } from '../shared/clock.js';
import { sleep } from '../shared/sleep.js';
import type { VigilError } from '../shared/errors.js';
import { LIVE_CLOSE, type ViewerConnection } from './live-channel.js';
import { LiveHub } from './live-hub.js';

const run = promisify(execFile);
/** 4 s of 15 fps H.264 with a keyframe each second, as the recorder's live output writes it. */
let live: Buffer;
let fixtureDir: string;

beforeAll(async () => {
  fixtureDir = await mkdtemp(join(tmpdir(), 'vigil-live-hub-fixture-'));
  const src = join(fixtureDir, 'src.mp4');
  await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=15', '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-pix_fmt', 'yuv420p', src]);
  await run('ffmpeg', ['-v', 'error', '-i', src, ...liveOutputArgs(join(fixtureDir, 'live.mp4'))]);
  live = await readFile(join(fixtureDir, 'live.mp4'));
}, 30_000);

afterAll(async () => {
  await rm(fixtureDir, { recursive: true, force: true });
});

/** A viewer's connection that keeps what it was sent; `backlog` is what its socket holds unsent. */
class Conn implements ViewerConnection {
  backlog = 0;
  texts: Array<{ type: string; [k: string]: unknown }> = [];
  binaryBytes = 0;
  binaries = 0;
  closed: { code: number; reason: string } | undefined;
  bufferedBytes = () => this.backlog;
  sendText(text: string) {
    this.texts.push(JSON.parse(text) as { type: string });
  }
  sendBinary(data: Buffer) {
    this.binaries++;
    this.binaryBytes += data.length;
  }
  close(code: number, reason: string) {
    this.closed = { code, reason };
  }
}

/** Sub-stream ffmpegs that never spawn: each runs until killed. */
function fakeLiveLauncher() {
  const runs: Array<{ args: string[]; onData: (b: Buffer) => void; killed: boolean }> = [];
  const launcher: LiveStreamLauncher = (_program, args, onData) => {
    let done!: (e: ExitInfo) => void;
    const exited = new Promise<ExitInfo>((r) => (done = r));
    const r = { args, onData, killed: false };
    runs.push(r);
    return {
      pid: 1000 + runs.length,
      exited,
      kill: async () => {
        r.killed = true;
        done({ code: null, signal: 'SIGKILL', stderrTail: '' });
        return exited;
      },
    };
  };
  return { runs, launcher, alive: () => runs.filter((r) => !r.killed) };
}

let dir: string;
let opened: OpenedDb;
let events: EventLog;
let hub: LiveHub;
let subs: ReturnType<typeof fakeLiveLauncher>;

const camera = (id: string, o: { subUrl?: string | null; enabled?: boolean } = {}) => ({
  id, name: id, mainUrl: `rtsp://127.0.0.1:9/${id}`, subUrl: o.subUrl ?? null, segmentSeconds: 2, retentionHours: null, storageQuotaBytes: null, enabled: o.enabled ?? true,
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-live-hub-'));
  opened = await openDatabase(join(dir, 'vigil.db'));
  const { log } = memoryLogger();
  events = new EventLog(opened.db, systemClock, log);
  await upsertDeclaredCamera(opened.db, camera('cam1', { subUrl: 'rtsp://127.0.0.1:9/cam1-sub' }), 'config', Date.now());
  await upsertDeclaredCamera(opened.db, camera('cam2'), 'config', Date.now());
  await upsertDeclaredCamera(opened.db, camera('off', { enabled: false }), 'config', Date.now());
  subs = fakeLiveLauncher();
  hub = new LiveHub({
    clock: systemClock,
    log,
    events,
    lookup: (id) => getCamera(opened.db, id),
    ffmpegPath: 'ffmpeg',
    rtspTimeoutSeconds: 3,
    launcher: subs.launcher,
    options: { subLingerMs: 50, maxBufferedBytes: 64 * 1024 },
  });
  hub.start();
});

afterEach(async () => {
  await hub.stop();
  await opened.close();
  await rm(dir, { recursive: true, force: true });
});

const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as VigilError);

describe('LiveHub', () => {
  it('refuses before any upgrade: an unknown camera, a sub-stream the camera lacks, a disabled camera', async () => {
    expect(await refusal(hub.check('nope', 'main'))).toMatchObject({ kind: 'not_found', field: 'id' });
    expect(await refusal(hub.check('cam2', 'sub'))).toMatchObject({ kind: 'not_found', field: 'stream' });
    expect(await refusal(hub.check('off', 'main'))).toMatchObject({ kind: 'failed_precondition', field: 'id' });
    expect(await refusal(hub.join('nope', 'main', new Conn()))).toMatchObject({ kind: 'not_found' });
    expect(subs.runs).toEqual([]);
  });

  it('reads nothing for a camera nobody watches: the sub-stream ffmpeg starts with its first viewer, is shared, and stops after the last leaves', async () => {
    expect(subs.runs).toEqual([]);
    // A viewer of the main stream reads what the recorder already receives: no ffmpeg of its own.
    const leaveMain = await hub.join('cam1', 'main', new Conn());
    expect(subs.runs).toEqual([]);
    const leaveA = await hub.join('cam1', 'sub', new Conn());
    const leaveB = await hub.join('cam1', 'sub', new Conn());
    expect(subs.runs).toHaveLength(1);
    expect(subs.runs[0]?.args).toContain('rtsp://127.0.0.1:9/cam1-sub');
    expect(hub.stats('cam1').viewers).toBe(3);
    leaveA();
    leaveB();
    // A viewer back within the linger time keeps the same ffmpeg (a page reload reconnects nothing).
    const leaveC = await hub.join('cam1', 'sub', new Conn());
    await sleep(80);
    expect(subs.alive()).toHaveLength(1);
    leaveC();
    await sleep(120);
    expect(subs.alive()).toEqual([]);
    expect(subs.runs).toHaveLength(1);
    leaveMain();
    expect(hub.stats('cam1').viewers).toBe(0);
  });

  it('gives every viewer the stream from a keyframe, and skips a backed-up viewer to the next keyframe without holding back the others or the producer', async () => {
    const fast = new Conn();
    const slow = new Conn();
    await hub.join('cam2', 'main', fast);
    await hub.join('cam2', 'main', slow);
    const feed = hub.open('cam2');
    const half = Math.floor(live.length / 2);
    feed.push(live.subarray(0, half));
    slow.backlog = 1_000_000;
    const started = Date.now();
    feed.push(live.subarray(half));
    expect(Date.now() - started).toBeLessThan(500);
    expect(fast.texts.map((t) => t.type)).toEqual(['offline', 'init']);
    // The fast viewer got the init and every fragment.
    const chunks = new Fmp4StreamSplitter().push(live);
    const sizes = chunks.map((c) => (c.kind === 'init' ? c.init.data.length : c.fragment.data.length));
    expect(fast.binaries).toBe(chunks.length);
    expect(fast.binaryBytes).toBe(sizes.reduce((a, n) => a + n, 0));
    expect(slow.binaries).toBeLessThan(fast.binaries);
    expect(hub.viewers('cam2', 'main').find((v) => v.conn === slow)?.dropped).toBeGreaterThan(0);
    expect(hub.viewers('cam2', 'main').find((v) => v.conn === fast)?.dropped).toBe(0);
    expect(hub.stats('cam2').droppedFragments).toBeGreaterThan(0);
    expect(slow.closed).toBeUndefined();
    feed.end();
    expect(fast.texts.at(-1)).toMatchObject({ type: 'offline' });
  });

  it('closes the viewers of a deleted or disabled camera (4404) and stops its sub-stream', async () => {
    const main1 = new Conn();
    const sub1 = new Conn();
    const main2 = new Conn();
    await hub.join('cam1', 'main', main1);
    await hub.join('cam1', 'sub', sub1);
    await hub.join('cam2', 'main', main2);
    await deleteCamera(opened.db, 'cam1', Date.now());
    await events.emit({ type: 'camera_deleted', cameraId: 'cam1', requestId: 'req', payload: {} });
    await updateCamera(opened.db, camera('cam2', { enabled: false }), Date.now());
    await events.emit({ type: 'camera_updated', cameraId: 'cam2', requestId: 'req', payload: { fields: ['enabled'] } });
    for (let i = 0; i < 50 && !(main1.closed && sub1.closed && main2.closed && subs.alive().length === 0); i++) await sleep(10);
    expect(main1.closed).toEqual({ code: LIVE_CLOSE.gone, reason: 'camera deleted' });
    expect(sub1.closed).toEqual({ code: LIVE_CLOSE.gone, reason: 'camera deleted' });
    expect(main2.closed).toEqual({ code: LIVE_CLOSE.gone, reason: 'camera disabled' });
    expect(subs.alive()).toEqual([]);
  });

  it('closes every viewer (1001) and kills every sub-stream on stop, and takes no viewer after', async () => {
    const a = new Conn();
    const b = new Conn();
    await hub.join('cam1', 'main', a);
    await hub.join('cam1', 'sub', b);
    await hub.stop();
    expect(a.closed?.code).toBe(LIVE_CLOSE.shutdown);
    expect(b.closed?.code).toBe(LIVE_CLOSE.shutdown);
    expect(subs.alive()).toEqual([]);
    expect(await refusal(hub.join('cam1', 'main', new Conn()))).toMatchObject({ kind: 'unavailable' });
  });
});
