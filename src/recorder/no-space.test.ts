import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../config/config.js';
import { getStatus, LAST_ERROR_MAX_CHARS } from '../db/camera-status.repo.js';
import { getCamera, upsertDeclaredCamera } from '../db/camera.repo.js';
import { openDatabase, type OpenedDb } from '../db/connection.js';
import { listEvents } from '../db/event.repo.js';
import { EventLog } from '../events/event-log.js';
import { Indexer } from '../indexer/indexer.service.js';
import type { ExitInfo, RecorderLauncher } from '../media/ffmpeg-process.js';
import { systemClock } from '../shared/clock.js';
import { sleep } from '../shared/sleep.js';
import { CameraRecorder } from './camera-recorder.js';
import { reasonAndTail } from './last-error.js';
import { isNoSpace, NO_SPACE_REASON } from '../media/no-space.js';
import type { RecordingsSpace } from './recordings-space.js';
import { FootageStore } from '../storage/footage-store.js';

/** What ffmpeg 5.1 printed when the storm's tmpfs filled (the segment muxer, then the live pipe). */
const ENOSPC_STDERR = [
  ...Array.from({ length: 40 }, (_, i) => `[warning] Non-monotonous DTS in output stream 0:0; previous: ${i}, current: ${i}; changing to ${i + 1}.`),
  '[error] av_interleaved_write_frame(): No space left on device',
  'Error writing trailer of pipe:4: Broken pipe',
].join('\n');

describe('recognising a full disk in what ffmpeg printed', () => {
  it('matches ENOSPC and EDQUOT, not other failures', () => {
    expect(isNoSpace(ENOSPC_STDERR)).toBe(true);
    expect(isNoSpace('[error] Error writing trailer: Disk quota exceeded')).toBe(true);
    expect(isNoSpace('[error] rtsp://cam/x: Connection refused')).toBe(false);
    expect(isNoSpace('Server returned 404 Not Found')).toBe(false);
  });

  it('last_error keeps the reason as its first line however long the stderr, and the stderr end', () => {
    const text = reasonAndTail(NO_SPACE_REASON, ENOSPC_STDERR);
    expect(ENOSPC_STDERR.length).toBeGreaterThan(LAST_ERROR_MAX_CHARS);
    expect(text.length).toBeLessThanOrEqual(LAST_ERROR_MAX_CHARS);
    expect(text.split('\n')[0]).toBe(NO_SPACE_REASON);
    expect(text.endsWith('Error writing trailer of pipe:4: Broken pipe')).toBe(true);
    expect(reasonAndTail('ffmpeg exited with code 1', '  ')).toBe('ffmpeg exited with code 1');
  });
});

let dir: string;
let opened: OpenedDb;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-nospace-'));
  opened = await openDatabase(join(dir, 'vigil.db'));
});
afterEach(async () => {
  await opened.close();
  await rm(dir, { recursive: true, force: true });
});

/** A launcher whose every ffmpeg fails at once the way a full disk makes it fail. */
function fullDiskLauncher(): { launcher: RecorderLauncher; launches: () => number } {
  let n = 0;
  const launcher: RecorderLauncher = () => {
    n++;
    const exited: Promise<ExitInfo> = sleep(20).then(() => ({ code: 1, signal: null, stderrTail: ENOSPC_STDERR }));
    return { pid: 0, exited, stop: () => exited, kill: () => exited };
  };
  return { launcher, launches: () => n };
}

/** A space that stays full until `free()`; remembers the reports. */
function fakeSpace() {
  const reports: Array<{ cameraId: string; detail: string }> = [];
  let free!: () => void;
  const room = new Promise<void>((resolve) => (free = resolve));
  const space: RecordingsSpace = {
    async noSpace(cameraId, detail) {
      reports.push({ cameraId, detail });
    },
    whenWritable: (signal) => Promise.race([room, new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))]),
  };
  return { space, reports, free: () => free() };
}

describe('a recorder whose disk is full', () => {
  it('sets state error with a clear last_error, reports it, and starts ffmpeg again only once there is room', async () => {
    const db = opened.db;
    const log = pino({ level: 'silent' });
    const events = new EventLog(db, systemClock, log);
    const cfg = buildConfig({ recorder: { backoff_initial_ms: 10, backoff_max_ms: 20 } }, { source: null, cwd: dir, env: {}, overrides: { dataDir: dir } });
    await upsertDeclaredCamera(db, { id: 'cam1', name: 'cam1', mainUrl: 'rtsp://127.0.0.1:9/x', subUrl: null, segmentSeconds: 2, retentionHours: null, storageQuotaBytes: null, enabled: true }, 'config', Date.now());
    const camera = (await getCamera(db, 'cam1'))!;
    const { launcher, launches } = fullDiskLauncher();
    const { space, reports, free } = fakeSpace();
    const indexer = new Indexer({ db, store: new FootageStore(dir), clock: systemClock, events, log });
    const rec = new CameraRecorder(camera, { db, clock: systemClock, events, indexer, launcher, config: cfg.recorder, log, space });
    rec.start();
    try {
      while (reports.length === 0) await sleep(10);
      const status = await getStatus(db, 'cam1');
      expect(status?.state).toBe('error');
      expect(status?.lastError?.split('\n')[0]).toBe(NO_SPACE_REASON);
      expect(status?.lastError).toContain('No space left on device');
      expect(reports[0]?.cameraId).toBe('cam1');
      expect(reports[0]?.detail).toContain('No space left on device');
      // Backoff is 10–20 ms: without the wait for room it would have restarted many times by now.
      await sleep(400);
      expect(launches()).toBe(1);
      expect((await getStatus(db, 'cam1'))?.state).toBe('error');
      free();
      while (launches() < 2) await sleep(10);
    } finally {
      await rec.stop();
    }
    const exits = (await listEvents(db, { type: 'recorder_exited', limit: 100 })).filter((e) => e.cameraId === 'cam1');
    expect(exits.length).toBeGreaterThanOrEqual(1);
    expect(exits[0]?.payload['reason']).toBe(NO_SPACE_REASON);
  });
});
