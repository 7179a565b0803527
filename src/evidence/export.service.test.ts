import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { tempCatalog } from '../../test/support/temp-catalog.js';
import { waitFor } from '../../test/support/harness.js';
import { upsertDeclaredCamera } from '../db/camera.repo.js';
import type { OpenedDb } from '../db/connection.js';
import { getExport } from '../db/export.repo.js';
import { indexSegment } from '../db/segment.repo.js';
import { EventLog } from '../events/event-log.js';
import type { ClipService } from '../export/clip.service.js';
import { systemClock } from '../shared/clock.js';
import { FootageStore } from '../storage/footage-store.js';
import { ExportService } from './export.service.js';
import { SigningKey } from './signing-key.js';

let dir: string;
let opened: OpenedDb;
tempCatalog('vigil-export-svc-', (c) => ({ dir, opened } = c));

const T0 = Date.UTC(2026, 11, 1, 9, 0, 0);

/** A clip whose bytes never end (a long export): the job is mid-build for as long as the test wants. */
function endlessClips(): { clips: ClipService; opened: () => boolean } {
  let started = false;
  const clips = {
    async open(_camera: string, range: { fromMs: number; toMs: number }, signal?: AbortSignal) {
      started = true;
      const body = new PassThrough();
      body.write(Buffer.alloc(64 * 1024));
      signal?.addEventListener('abort', () => body.destroy(new Error('aborted')), { once: true });
      return { fileName: 'x.mp4', fromMs: range.fromMs, toMs: range.toMs, coveredMs: 0, gaps: [], segments: 1, body };
    },
  } as unknown as ClipService;
  return { clips, opened: () => started };
}

describe('ExportService: a stop mid-build (invariant 11)', () => {
  it('leaves the job running with no bundle and no partial file, for the next start to build again', async () => {
    const log = pino({ level: 'silent' });
    await upsertDeclaredCamera(opened.db, { id: 'c1', name: 'c1', mainUrl: 'rtsp://h/x', subUrl: null, segmentSeconds: 2, retentionHours: null, storageQuotaBytes: null, enabled: false }, 'config', T0);
    await indexSegment(opened.db, { cameraId: 'c1', path: 'recordings/c1/a.mp4', startMs: T0, endMs: T0 + 2000, sizeBytes: 10, codec: null, width: null, height: null, source: 'live', fps: null }, T0);
    const fake = endlessClips();
    const exportsDir = join(dir, 'exports');
    const svc = new ExportService({
      db: opened.db,
      store: new FootageStore(dir),
      clock: systemClock,
      events: new EventLog(opened.db, systemClock, log),
      log,
      clips: fake.clips,
      key: await SigningKey.open(join(dir, 'key.pem'), opened.db, systemClock),
      dir: exportsDir,
      maxJobs: 1,
      maxSeconds: 3600,
      vigilVersion: 'test',
    });
    await svc.start();
    const job = await svc.create({ cameraIds: ['c1'], fromMs: T0, toMs: T0 + 2000, incidentId: null, reason: 'r', includeSegments: false, requestedBy: 't', requestId: null });
    await waitFor('the clip is being cut', () => fake.opened() || undefined, 10_000, 10);
    expect((await readdir(exportsDir)).some((n) => n.endsWith('.partial'))).toBe(true);
    await svc.stop();
    expect(await getExport(opened.db, job.id)).toMatchObject({ state: 'running', error: null, sizeBytes: null });
    expect(await readdir(exportsDir)).toEqual([]);
  });
});
