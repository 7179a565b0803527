import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connection.js';
import { deepCheck } from '../../src/storage/deep-check.js';
import { FootageStore } from '../../src/storage/footage-store.js';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import { checkConsistency, readCatalog } from '../support/footage.js';
import { ffmpegPidsFor, removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';

describe('recording two real RTSP cameras with 2-second segments', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  const statusWhileRecording: Record<string, { state: string; bitrate_bps: number | null }> = {};

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam1' }, { name: 'cam2', pattern: 'smpte' }] });
    vigil = await startVigil({
      cameras: [
        { id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 },
        { id: 'cam2', main_url: server.url('cam2'), segment_seconds: 2 },
      ],
    });
    await sleep(20_000);
    for (const id of ['cam1', 'cam2']) {
      statusWhileRecording[id] = (await (await vigil.api(`/cameras/${id}/status`)).json()) as { state: string; bitrate_bps: number | null };
    }
    await vigil.app.stop();
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('was recording, at a real bitrate, while the cameras streamed', () => {
    for (const id of ['cam1', 'cam2']) {
      expect(statusWhileRecording[id]?.state).toBe('recording');
      expect(statusWhileRecording[id]?.bitrate_bps).toBeGreaterThan(0);
    }
  });

  it('indexes every closed file exactly once, with no row lacking its file and no overlap', async () => {
    expect(await checkConsistency(vigil.dataDir)).toEqual([]);
  });

  it('hashes every segment from its bytes as it is indexed, and chains each camera\'s in order (invariant 10)', async () => {
    const { segments } = readCatalog(vigil.dataDir);
    for (const cam of ['cam1', 'cam2']) {
      const list = segments.filter((s) => s.camera_id === cam).sort((a, b) => a.id - b.id) as unknown as Array<{ path: string; sha256: string; chain_seq: number }>;
      for (const [i, s] of list.entries()) {
        expect(s.sha256).toBe(createHash('sha256').update(await readFile(join(vigil.dataDir, s.path))).digest('hex'));
        expect(s.chain_seq).toBe(i + 1);
      }
    }
    const opened = await openDatabase(join(vigil.dataDir, 'vigil.db'));
    try {
      const report = await deepCheck({ db: opened.db, store: new FootageStore(vigil.dataDir) }, { rehash: true, statFile: async () => true });
      expect(report.problems).toEqual([]);
      expect(report.links).toBe(segments.length);
    } finally {
      await opened.close();
    }
  });

  it('records contiguously: no gap rows, each segment starts where the previous ended', () => {
    const { segments, gaps } = readCatalog(vigil.dataDir);
    expect(gaps).toEqual([]);
    for (const cam of ['cam1', 'cam2']) {
      const list = segments.filter((s) => s.camera_id === cam);
      expect(list.length).toBeGreaterThanOrEqual(8);
      for (let i = 1; i < list.length; i++) expect(list[i]!.start_ms).toBe(list[i - 1]!.end_ms);
      const span = list.at(-1)!.end_ms - list[0]!.start_ms;
      const sum = list.reduce((a, s) => a + s.duration_ms, 0);
      expect(Math.abs(span - sum)).toBeLessThanOrEqual(1000);
      expect(span).toBeGreaterThan(17_000);
      expect(list.every((s) => s.size_bytes > 0 && s.source === 'live')).toBe(true);
    }
  });

  it('counts segments_written equal to the rows, and never a reconnect', () => {
    const { segments, status } = readCatalog(vigil.dataDir);
    for (const cam of ['cam1', 'cam2']) {
      const st = status.find((s) => s.camera_id === cam)!;
      expect(st['segments_written']).toBe(segments.filter((s) => s.camera_id === cam).length);
      expect(st['reconnect_count']).toBe(0);
      expect(st['pid']).toBeNull();
      expect(st['state']).toBe('disabled');
    }
  });

  it('closes and indexes the last segment on graceful shutdown and leaves no ffmpeg', async () => {
    const { segments, events } = readCatalog(vigil.dataDir);
    const stoppedAt = events.find((e) => e.type === 'vigil_stopped');
    expect(stoppedAt).toBeDefined();
    for (const cam of ['cam1', 'cam2']) {
      const last = segments.filter((s) => s.camera_id === cam).at(-1)!;
      // The final segment is cut short by the stop, not lost: it ends within a second of the stop.
      expect(last.duration_ms).toBeLessThan(3500);
    }
    expect(await ffmpegPidsFor(vigil.dataDir)).toEqual([]);
  });
});

describe('the segment timestamps follow the camera clock', () => {
  // The fake camera's first_rtp is when its first frame left the payloader; the estimate is bounded by
  // the camera's own send latency (see docs/proof.md, "Timestamp accuracy"). A name-based start would be off by seconds.
  // 5 fps: ffmpeg's stream analysis (20 frames) used to hold 4 s of footage back and write it in one
  // burst, and the first segments were placed ~4.6 s late, then overlapped by the next ones.
  it.each([15, 5])('starts the first segment within 500 ms of the first frame a %i fps camera sent, and the next ones contiguous', async (fps) => {
    const server = await RtspServer.start({ mounts: [{ name: 'clock', shared: false, fps }] });
    const vigil = await startVigil({ cameras: [{ id: 'clock', main_url: server.url('clock'), segment_seconds: 2 }] });
    try {
      const firstRtp = await server.waitForFirstRtp('clock', { timeoutMs: 15_000 });
      const rows = await waitFor('three segments', async () => {
        const page = (await (await vigil.api('/cameras/clock/segments?limit=3')).json()) as { segments: Array<{ start: string; end: string }> };
        return page.segments.length >= 3 ? page.segments : undefined;
      });
      const errorMs = Date.parse(rows[0]!.start) - firstRtp;
      expect(Math.abs(errorMs)).toBeLessThanOrEqual(500);
      for (let i = 1; i < rows.length; i++) expect(rows[i]!.start, `segment ${i}`).toBe(rows[i - 1]!.end);
      expect(readCatalog(vigil.dataDir).events.filter((e) => e.type === 'segment_discarded')).toEqual([]);
    } finally {
      await vigil.app.stop();
      await server.stop();
      await removeDir(vigil.dataDir);
    }
  });
});
