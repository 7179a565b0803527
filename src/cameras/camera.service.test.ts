import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeRecorders } from '../../test/support/fake-recorder.js';
import { memoryLogger } from '../../test/support/harness.js';
import { buildConfig } from '../config/config.js';
import { getStatus } from '../db/camera-status.repo.js';
import { type OpenedDb } from '../db/connection.js';
import { listEvents } from '../db/event.repo.js';
import { EventLog } from '../events/event-log.js';
import { Indexer } from '../indexer/indexer.service.js';
import { RecorderManager } from '../recorder/recorder-manager.js';
import { systemClock } from '../shared/clock.js';
import { VigilError } from '../shared/errors.js';
import { CameraService } from './camera.service.js';
import { FootageStore } from '../storage/footage-store.js';
import { tempCatalog } from '../../test/support/temp-catalog.js';

let dir: string;
let opened: OpenedDb;
let fake: FakeRecorders;
let recorders: RecorderManager;
let cameras: CameraService;

tempCatalog('vigil-cameras-', (c) => ({ dir, opened } = c));

beforeEach(async () => {
  const db = opened.db;
  const { log } = memoryLogger();
  const events = new EventLog(db, systemClock, log);
  const config = buildConfig({}, { source: null, cwd: dir, env: {}, overrides: { dataDir: dir } });
  fake = new FakeRecorders();
  const indexer = new Indexer({ db, store: new FootageStore(dir), clock: systemClock, events, log });
  recorders = new RecorderManager({ db, clock: systemClock, events, indexer, launcher: fake.launcher, config: config.recorder, log });
  cameras = new CameraService({ db, clock: systemClock, events, recorders });
});

afterEach(async () => {
  await recorders.stopAll();
});

const events = async (type?: string) => (await listEvents(opened.db, { limit: 1000, ...(type ? { type } : {}) })).reverse();
const urlOf = (args: readonly string[]) => args[args.indexOf('-i') + 1];
const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as VigilError);

describe('CameraService', () => {
  it('creates a camera, says so with the request id and a redacted URL, and starts its recorder', async () => {
    const cam = await cameras.create({ id: 'front', main_url: 'rtsp://admin:s3cret@10.0.0.2/main', segment_seconds: 4 }, { requestId: 'req-1' });
    expect(cam).toMatchObject({ id: 'front', name: 'front', mainUrl: 'rtsp://admin:s3cret@10.0.0.2/main', segmentSeconds: 4, enabled: true, origin: 'api' });
    const [created] = await events('camera_created');
    expect(created).toMatchObject({ cameraId: 'front', requestId: 'req-1', payload: { enabled: true, revived: false } });
    expect(JSON.stringify(created)).not.toContain('s3cret');
    const run = await fake.started('front');
    expect(urlOf(run.args)).toBe('rtsp://admin:s3cret@10.0.0.2/main');
    expect(run.args).toEqual(expect.arrayContaining(['-segment_time', '4']));
    expect(recorders.runningIds()).toEqual(['front']);
  });

  it('creates a disabled camera without a recorder, its state disabled', async () => {
    await cameras.create({ id: 'spare', main_url: 'rtsp://10.0.0.3/main', enabled: false }, { requestId: 'req-2' });
    expect(recorders.runningIds()).toEqual([]);
    expect(fake.runs).toEqual([]);
    expect((await getStatus(opened.db, 'spare'))?.state).toBe('disabled');
  });

  it('refuses a duplicate id (409, field id) or bad edge-replay settings (400, the field) and changes nothing', async () => {
    await cameras.create({ id: 'front', main_url: 'rtsp://10.0.0.2/main' }, { requestId: null });
    await fake.started('front');
    const before = { events: (await events()).length, runs: fake.runs.length };
    const dup = await refusal(cameras.create({ id: 'front', main_url: 'rtsp://10.0.0.9/other' }, { requestId: 'req-dup' }));
    expect(dup).toMatchObject({ kind: 'conflict', field: 'id' });
    const anr = await refusal(cameras.create({ id: 'yard', main_url: 'rtsp://10.0.0.4/main', anr_enabled: true }, { requestId: 'req-anr' }));
    expect(anr).toMatchObject({ kind: 'invalid_argument', field: 'anr_enabled' });
    const generic = await refusal(cameras.create({ id: 'yard', main_url: 'rtsp://10.0.0.4/main', anr_preset: 'generic' }, { requestId: 'req-anr' }));
    expect(generic).toMatchObject({ kind: 'invalid_argument', field: 'anr_replay_url_template' });
    expect((await cameras.list()).map((c) => c.id)).toEqual(['front']);
    expect((await cameras.get('front')).mainUrl).toBe('rtsp://10.0.0.2/main');
    expect({ events: (await events()).length, runs: fake.runs.length }).toEqual(before);
  });

  it('restarts the recorder when the URL or segment length changes, not for a new name', async () => {
    await cameras.create({ id: 'front', main_url: 'rtsp://10.0.0.2/main' }, { requestId: null });
    const first = await fake.started('front');
    const renamed = await cameras.update('front', { name: 'Front door' }, { requestId: 'req-name' });
    expect(renamed.name).toBe('Front door');
    expect(first.exit).toBeUndefined();
    await cameras.update('front', { main_url: 'rtsp://10.0.0.2/hd' }, { requestId: 'req-url' });
    // The old ffmpeg was asked to close its segment (SIGINT), and a new one records the new URL.
    expect(first.exit?.code).toBe(255);
    const second = await fake.started('front');
    expect(urlOf(second.args)).toBe('rtsp://10.0.0.2/hd');
    await cameras.update('front', { segment_seconds: 10 }, { requestId: 'req-len' });
    const third = await fake.started('front');
    expect(second.exit).toBeDefined();
    expect(third.args).toEqual(expect.arrayContaining(['-segment_time', '10']));
    expect(fake.of('front')).toHaveLength(3);
    const updated = await events('camera_updated');
    expect(updated.map((e) => [e.requestId, e.payload])).toEqual([
      ['req-name', { fields: ['name'] }],
      ['req-url', { fields: ['main_url'] }],
      ['req-len', { fields: ['segment_seconds'] }],
    ]);
  });

  it('stops the recorder of a disabled camera and starts it again when enabled', async () => {
    await cameras.create({ id: 'front', main_url: 'rtsp://10.0.0.2/main' }, { requestId: null });
    const first = await fake.started('front');
    await cameras.update('front', { enabled: false }, { requestId: 'req-off' });
    expect(first.exit).toBeDefined();
    expect(recorders.runningIds()).toEqual([]);
    await cameras.update('front', { enabled: true }, { requestId: 'req-on' });
    await fake.started('front');
    expect(recorders.runningIds()).toEqual(['front']);
  });

  it('checks a patch against the camera as a whole, and refuses an unknown camera', async () => {
    await cameras.create({ id: 'front', main_url: 'rtsp://10.0.0.2/main' }, { requestId: null });
    const anr = await refusal(cameras.update('front', { anr_enabled: true }, { requestId: 'req' }));
    expect(anr).toMatchObject({ kind: 'invalid_argument', field: 'anr_enabled' });
    expect((await cameras.get('front')).anr.enabled).toBe(false);
    expect(await refusal(cameras.update('nope', { name: 'x' }, { requestId: 'req' }))).toMatchObject({ kind: 'not_found', field: 'id' });
    expect(await events('camera_updated')).toEqual([]);
  });

  it('deletes a camera: its recorder stops, the event carries the request id, and the id may be used again', async () => {
    await cameras.create({ id: 'front', main_url: 'rtsp://10.0.0.2/main' }, { requestId: null });
    const run = await fake.started('front');
    await cameras.delete('front', { requestId: 'req-del' });
    expect(run.exit).toBeDefined();
    expect(recorders.runningIds()).toEqual([]);
    expect(await refusal(cameras.get('front'))).toMatchObject({ kind: 'not_found', field: 'id' });
    expect(await refusal(cameras.delete('front', { requestId: 'again' }))).toMatchObject({ kind: 'not_found', field: 'id' });
    expect((await events('camera_deleted')).map((e) => [e.cameraId, e.requestId])).toEqual([['front', 'req-del']]);
    await cameras.create({ id: 'front', main_url: 'rtsp://10.0.0.2/main' }, { requestId: 'req-back' });
    expect((await events('camera_created')).map((e) => e.payload.revived)).toEqual([false, true]);
    await fake.started('front');
  });

  it('leaves what the recorder reports on its own with a NULL request id', async () => {
    await cameras.create({ id: 'front', main_url: 'rtsp://10.0.0.2/main' }, { requestId: 'req-create' });
    const run = await fake.started('front');
    run.handlers.onProgress(2_000_000, 30, Date.now());
    run.crash();
    for (let i = 0; i < 100 && (await events('recorder_exited')).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const own = (await events()).filter((e) => ['recording_started', 'recorder_exited'].includes(e.type));
    expect(own.map((e) => e.type)).toEqual(['recording_started', 'recorder_exited']);
    for (const e of own) expect(e.requestId).toBeNull();
  });
});
