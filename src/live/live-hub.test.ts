import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readdir, readFile, readlink, rename, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../test/support/harness.js';
import { deleteCamera, getCamera, updateCamera, upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type OpenedDb } from '../db/connection.js';
import { EventLog } from '../events/event-log.js';
import { scanFmp4Buffer } from '../media/fmp4/scan.js';
import { Fmp4StreamSplitter } from '../media/fmp4/stream.js';
import { liveOutputArgs } from '../media/live-args.js';
import type { ExitInfo } from '../media/child.js';
import type { LiveStreamLauncher } from '../media/live-process.js';
import { systemClock } from '../shared/clock.js';
import { sleep } from '../shared/sleep.js';
import type { VigilError } from '../shared/errors.js';
import { LIVE_CLOSE, type ViewerConnection } from './live-channel.js';
import { LiveHub } from './live-hub.js';
import { FootageStore } from '../storage/footage-store.js';

const run = promisify(execFile);
/** 4 s of 15 fps H.264 with a keyframe each second, in fragments of ≤ 200 ms (several per GOP). */
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
let store: FootageStore;
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
  store = new FootageStore(dir);
  hub = new LiveHub({
    clock: systemClock,
    log,
    events,
    lookup: (id) => getCamera(opened.db, id),
    openSegment: (p) => store.openGrowing(p),
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

  /** A recorder run writing `run-00000N.mp4` files into the camera's folder of the footage store, one box at a time. */
  async function fakeRun(cameraId: string) {
    const camDir = await store.ensureCameraDir(cameraId);
    const pathOf = (seq: number) => join(camDir, `run-${String(seq).padStart(6, '0')}.mp4`);
    const files = new Map<number, FileHandle>();
    const write = async (seq: number, data: Buffer) => {
      let fh = files.get(seq);
      if (!fh) files.set(seq, (fh = await open(pathOf(seq), 'a')));
      await fh.write(data);
    };
    const liveRun = hub.runStarted(cameraId, { pathOf });
    return {
      pathOf,
      liveRun,
      write,
      async closeAll() {
        for (const fh of files.values()) await fh.close();
      },
    };
  }
  /** The fixture's init and fragments, each as bytes. */
  const pieces = () => new Fmp4StreamSplitter().push(live).map((c) => (c.kind === 'init' ? c.init.data : c.fragment.data));
  const keyframes = () => new Fmp4StreamSplitter().push(live).flatMap((c) => (c.kind === 'fragment' ? [c.fragment.keyframe] : []));
  /** Segment files of this test that this process holds open for reading (the fake run's own writes are not counted). */
  const openSegmentFds = async () => {
    const held: string[] = [];
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      const flags = /flags:\s+(\d+)/.exec(await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => ''))?.[1];
      // O_ACCMODE 0: read-only.
      if (target.startsWith(dir) && target.includes('run-') && flags !== undefined && (parseInt(flags, 8) & 3) === 0) held.push(target);
    }
    return held;
  };

  it('reads nothing while nobody watches; a viewer gets the init and the latest keyframe on, follows the next file without a second init, and leaves no file open', async () => {
    const run = await fakeRun('cam2');
    const [init, ...frags] = pieces();
    const keys = keyframes();
    // Half the fixture is on disk before anyone watches: nothing opens it.
    const half = Math.floor(frags.length / 2);
    await run.write(0, Buffer.concat([init as Buffer, ...frags.slice(0, half)]));
    await sleep(100);
    expect(hub.followerCount()).toBe(0);
    expect(await openSegmentFds()).toEqual([]);
    const a = new Conn();
    await hub.join('cam2', 'main', a);
    expect(a.texts.map((t) => t.type)).toEqual(['init']);
    // Joined mid-GOP: it starts at the latest keyframe fragment on disk, not at the file's start.
    const lastKey = keys.slice(0, half).lastIndexOf(true);
    expect(a.binaries).toBe(1 + (half - lastKey));
    expect(await openSegmentFds()).toHaveLength(1);
    // Fragments appended as ffmpeg flushes them reach the viewer.
    for (const f of frags.slice(half)) await run.write(0, f);
    for (let i = 0; i < 100 && a.binaries < 1 + frags.length - lastKey; i++) await sleep(10);
    expect(a.binaries).toBe(1 + frags.length - lastKey);
    // The segment closes; the next file (same run: same init) follows with its fragments only.
    await run.write(1, Buffer.concat([init as Buffer, ...frags.slice(0, 3)]));
    run.liveRun.segmentClosed(0);
    for (let i = 0; i < 100 && a.binaries < 1 + frags.length - lastKey + 3; i++) await sleep(10);
    expect(a.binaries).toBe(1 + frags.length - lastKey + 3);
    expect(a.texts.map((t) => t.type)).toEqual(['init']);
    expect(await openSegmentFds()).toEqual([run.pathOf(1)]);
    // The last viewer leaves: the file is closed.
    const leave = await hub.join('cam2', 'main', new Conn());
    leave();
    expect(hub.followerCount()).toBe(1);
    await hub.stop();
    expect(hub.followerCount()).toBe(0);
    expect(await openSegmentFds()).toEqual([]);
    await run.closeAll();
  });

  it('starts a viewer who joins just after a rollover at the latest keyframe of the previous file, renamed by the indexer meanwhile, on one timeline', async () => {
    const run = await fakeRun('cam2');
    const [init, ...frags] = pieces();
    const keys = keyframes();
    await run.write(0, Buffer.concat([init as Buffer, ...frags]));
    await run.write(1, init as Buffer);
    const finalPath = join(store.cameraDir('cam2'), 'final-000000.mp4');
    await rename(run.pathOf(0), finalPath);
    run.liveRun.segmentClosed(0, finalPath);
    const a = new Conn();
    const bins: Buffer[] = [];
    a.sendBinary = (data: Buffer) => {
      a.binaries++;
      bins.push(data);
    };
    const leave = await hub.join('cam2', 'main', a);
    const lastKey = keys.lastIndexOf(true);
    expect(a.texts.map((t) => t.type)).toEqual(['init']);
    expect(a.binaries).toBe(1 + frags.length - lastKey);
    for (const f of frags.slice(0, 4)) await run.write(1, f);
    for (let i = 0; i < 100 && a.binaries < 1 + frags.length - lastKey + 4; i++) await sleep(10);
    expect(a.binaries).toBe(1 + frags.length - lastKey + 4);
    // The second file's decode times continue the first's.
    const scan = scanFmp4Buffer(Buffer.concat(bins));
    for (let i = 1; i < scan.fragments.length; i++) {
      const prev = scan.fragments[i - 1] as (typeof scan.fragments)[number];
      expect(scan.fragments[i]?.decodeTimeSeconds as number).toBeCloseTo((prev.decodeTimeSeconds as number) + prev.durationSeconds, 6);
    }
    leave();
    await run.closeAll();
  });

  it('goes on when retention unlinks the file being read, moves to the next file, and closes the unlinked one', async () => {
    const run = await fakeRun('cam2');
    const [init, ...frags] = pieces();
    await run.write(0, Buffer.concat([init as Buffer, ...frags.slice(0, 4)]));
    const a = new Conn();
    const leave = await hub.join('cam2', 'main', a);
    const before = a.binaries;
    // Retention's file step (tombstoned row → unlink): the file ffmpeg writes and the follower reads.
    await store.deleteTombstoned(opened.db, [store.relPath(run.pathOf(0))]);
    expect(existsSync(run.pathOf(0))).toBe(false);
    // ffmpeg still writes the unlinked file (it holds it open): the viewer still sees it.
    for (const f of frags.slice(4, 8)) await run.write(0, f);
    for (let i = 0; i < 100 && a.binaries < before + 4; i++) await sleep(10);
    expect(a.binaries).toBe(before + 4);
    await run.write(1, Buffer.concat([init as Buffer, frags[0] as Buffer]));
    run.liveRun.segmentClosed(0);
    for (let i = 0; i < 100 && a.binaries < before + 5; i++) await sleep(10);
    expect(a.binaries).toBe(before + 5);
    // The unlinked file is not held any longer (its space is freed once ffmpeg lets go too).
    expect((await openSegmentFds()).filter((t) => t.endsWith('(deleted)'))).toEqual([]);
    leave();
    for (let i = 0; i < 100 && hub.followerCount() > 0; i++) await sleep(10);
    expect(await openSegmentFds()).toEqual([]);
    expect(a.closed).toBeUndefined();
    await run.closeAll();
  });

  it('skips a backed-up viewer to the next keyframe without holding back the others or the reading; the run\'s end sends offline', async () => {
    const run = await fakeRun('cam2');
    const fast = new Conn();
    const slow = new Conn();
    await hub.join('cam2', 'main', fast);
    await hub.join('cam2', 'main', slow);
    // Nothing on disk yet: the viewers wait (offline) until the init is written.
    expect(fast.texts.map((t) => t.type)).toEqual(['offline']);
    const all = pieces();
    const half = Math.floor(all.length / 2);
    await run.write(0, all[0] as Buffer);
    for (let i = 0; i < 100 && fast.binaries < 1; i++) await sleep(10);
    for (const p of all.slice(1, half)) await run.write(0, p);
    for (let i = 0; i < 100 && fast.binaries < half; i++) await sleep(10);
    slow.backlog = 1_000_000;
    for (const p of all.slice(half)) await run.write(0, p);
    for (let i = 0; i < 200 && fast.binaries < all.length; i++) await sleep(10);
    expect(fast.texts.map((t) => t.type)).toEqual(['offline', 'init']);
    // The fast viewer got the init and every fragment.
    expect(fast.binaries).toBe(all.length);
    expect(fast.binaryBytes).toBe(all.reduce((n, p) => n + p.length, 0));
    expect(slow.binaries).toBeLessThan(fast.binaries);
    expect(hub.viewers('cam2', 'main').find((v) => v.conn === slow)?.dropped).toBeGreaterThan(0);
    expect(hub.viewers('cam2', 'main').find((v) => v.conn === fast)?.dropped).toBe(0);
    expect(hub.stats('cam2').droppedFragments).toBeGreaterThan(0);
    expect(slow.closed).toBeUndefined();
    run.liveRun.end();
    for (let i = 0; i < 100 && fast.texts.at(-1)?.type !== 'offline'; i++) await sleep(10);
    expect(fast.texts.at(-1)).toMatchObject({ type: 'offline' });
    expect(hub.followerCount()).toBe(0);
    await run.closeAll();
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
