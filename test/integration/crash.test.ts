import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { OPEN_SEGMENT_NAME_PATTERN, SEGMENT_NAME_PATTERN } from '../../src/storage/segment-names.js';
import { sleep } from '../../src/shared/sleep.js';
import { startChildVigil } from '../support/child-vigil.js';
import { checkConsistency, readCatalog } from '../support/footage.js';
import { ffmpegPidsFor, filesUnder, removeDir, tempDir, waitFor } from '../support/harness.js';

const recorder = { rtsp_timeout_seconds: 3, backoff_initial_ms: 500, backoff_max_ms: 2000 };

describe('Vigil killed with SIGKILL mid-segment', () => {
  it('loses no row, leaves no orphan ffmpeg, and indexes the interrupted file at the next start', async () => {
    const server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    const dataDir = await tempDir();
    const cameras = [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 4 }];
    try {
      const first = await startChildVigil(dataDir, { cameras, recorder });
      await waitFor('3 segments', () => readCatalog(dataDir).segments.length >= 3, 40_000);
      // Kill -9 two seconds into a 4-second segment: that file is half written and has no row.
      const lastRowAt = readCatalog(dataDir).segments.length;
      await waitFor('a new segment', () => readCatalog(dataDir).segments.length > lastRowAt, 10_000);
      await sleep(2000);
      const rowsBefore = readCatalog(dataDir).segments;
      expect(await ffmpegPidsFor(dataDir)).toHaveLength(1);
      await first.kill9();

      // ffmpeg dies with its parent (pdeathsig): nothing keeps writing into the data dir.
      await waitFor('no ffmpeg left', async () => (await ffmpegPidsFor(dataDir)).length === 0, 5000);
      const files = (await filesUnder(join(dataDir, 'recordings'))).map((f) => f.slice(dataDir.length + 1));
      const unindexed = files.filter((f) => !rowsBefore.some((r) => r.path === f));
      expect(unindexed).toHaveLength(1);

      const second = await startChildVigil(dataDir, { cameras, recorder });
      const after = readCatalog(dataDir);
      // No row lost, none changed.
      for (const r of rowsBefore) expect(after.segments.find((s) => s.id === r.id)).toEqual(r);
      // The file still has the name ffmpeg gave it; recovery renames it to its start time, keeping run and number.
      const open = OPEN_SEGMENT_NAME_PATTERN.exec(basename(unindexed[0] ?? ''));
      expect(open).not.toBeNull();
      const recovered = after.segments.find((s) => s.path.endsWith(`-${open?.[1]}-${open?.[2]}.mp4`));
      expect(SEGMENT_NAME_PATTERN.test(basename(recovered?.path ?? ''))).toBe(true);
      const recoveredEvent = after.events.find((e) => e.type === 'segment_recovered');
      // The interrupted file is indexed up to its last whole fragment (fragments are flushed as they end).
      expect(recovered).toBeDefined();
      expect(recovered!.source).toBe('recovered');
      expect(recovered!.duration_ms).toBeGreaterThan(500);
      expect(recoveredEvent).toBeDefined();
      // It continues the run it belonged to.
      expect(recovered!.start_ms).toBe(rowsBefore.at(-1)!.end_ms);
      await waitFor('recording again', () => readCatalog(dataDir).segments.length >= after.segments.length + 2, 40_000);
      expect(await second.term()).toBe(0);
      expect(await ffmpegPidsFor(dataDir)).toEqual([]);
      expect(await checkConsistency(dataDir)).toEqual([]);
    } finally {
      await server.stop();
      await removeDir(dataDir);
    }
  });

  it('kills an orphan ffmpeg still writing into the data dir before it starts recording', async () => {
    const dataDir = await tempDir();
    const camDir = join(dataDir, 'recordings', 'cam1');
    await mkdir(camDir, { recursive: true });
    // An ffmpeg left behind by a crashed recorder (one that lost its parent-death signal).
    const orphan = spawn('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10', '-c:v', 'libx264', '-f', 'segment', '-segment_time', '2', join(camDir, 'orphan-%03d.mp4')], {
      detached: true,
      stdio: 'ignore',
    });
    const orphanGone = new Promise((res) => orphan.once('exit', res));
    try {
      await waitFor('orphan running', async () => (await ffmpegPidsFor(dataDir)).includes(orphan.pid!), 5000);
      const vigil = await startChildVigil(dataDir, { cameras: [{ id: 'cam1', main_url: 'rtsp://127.0.0.1:9/none', enabled: false }], recorder });
      await orphanGone;
      expect(await ffmpegPidsFor(dataDir)).toEqual([]);
      const killed = readCatalog(dataDir).events.find((e) => e.type === 'orphan_recorders_killed');
      expect(JSON.parse(killed!.payload)).toEqual({ pids: [orphan.pid] });
      expect(await vigil.term()).toBe(0);
    } finally {
      orphan.kill('SIGKILL');
      await removeDir(dataDir);
    }
  });
});
