import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { scanFmp4 } from '../../src/media/fmp4/scan.js';
import { sleep } from '../../src/shared/sleep.js';
import { startChildVigil, type ChildVigil } from '../support/child-vigil.js';
import { checkConsistency, readCatalog } from '../support/footage.js';
import { ffmpegPidsFor, removeDir, tempDir, waitFor } from '../support/harness.js';

const recorder = { rtsp_timeout_seconds: 3, backoff_initial_ms: 500, backoff_max_ms: 2000 };
const anr = { settle_seconds: 0, scan_interval_seconds: 1 };
const OUTAGE_MS = 10_000;

interface GapRow {
  id: number;
  gap_start_ms: number;
  gap_end_ms: number;
  fill_state: string;
  fill_attempts: number;
}

const gapRow = (dataDir: string, id: number) => readCatalog(dataDir).gaps.find((g) => g['id'] === id) as GapRow | undefined;
const isTempName = (path: string) => /(^|\/)\.refill-|\.part$/.test(path);

/** The JSON log lines of a child Vigil with `msg`. */
function logLines(vigil: ChildVigil, msg: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of vigil.output().split('\n')) {
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (rec['msg'] === msg) out.push(rec);
    } catch {
      /* not JSON */
    }
  }
  return out;
}

describe('Vigil killed with SIGKILL mid-refill', () => {
  it('the refill ffmpeg dies with it; the next start deletes the temp file unindexed, puts the gap back to pending and refills it', async () => {
    const since = Date.now() - 60_000;
    const mounts = [{ name: 'cam1', edge: { sinceMs: since } }];
    let server = await RtspServer.start({ mounts });
    const port = server.port;
    const dataDir = await tempDir();
    const cameras = [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2, anr_enabled: true, anr_preset: 'hikvision' }];
    const children: ChildVigil[] = [];
    try {
      const first = await startChildVigil(dataDir, { cameras, recorder, anr });
      children.push(first);
      await waitFor('3 segments', () => readCatalog(dataDir).segments.length >= 3, 40_000);

      // The camera drops off the network for 10 s while its SD card keeps recording, then returns.
      await server.kill();
      await sleep(OUTAGE_MS);
      server = await RtspServer.start({ port, mounts });
      const gap = await waitFor('the gap', () => readCatalog(dataDir).gaps[0] as GapRow | undefined, 40_000);
      expect(gap.gap_end_ms - gap.gap_start_ms).toBeGreaterThan(OUTAGE_MS - 1000);

      // The refill is in flight: its ffmpeg has written whole fragments of edge footage into the temp file.
      const tmp = join(dataDir, 'recordings', 'cam1', `.refill-${gap.id}.part`);
      await waitFor('edge footage in the temp file', async () => (await scanFmp4(tmp).catch(() => undefined))?.fragmentCount ?? 0, 30_000);
      // From here the edge sends nothing more, so the refill cannot finish before the kill.
      await server.stallReplays(true);
      expect(gapRow(dataDir, gap.id)?.fill_state).toBe('filling');
      const refillPids = await ffmpegPidsFor(tmp);
      expect(refillPids).toHaveLength(1);

      await first.kill9();

      // setpriv --pdeathsig: the refill ffmpeg (and the recorder's) die with Vigil; nothing writes on.
      await waitFor('no ffmpeg left', async () => (await ffmpegPidsFor(dataDir)).length === 0, 5000);
      // The crash left exactly the state recovery has to undo: a readable temp file of footage that
      // would be indexable under a segment name, and the gap `filling`, and neither indexed.
      expect(existsSync(tmp)).toBe(true);
      const left = await scanFmp4(tmp);
      expect(left.fragmentCount).toBeGreaterThanOrEqual(1);
      expect(left.videoDurationSeconds).toBeGreaterThan(0);
      const crashed = readCatalog(dataDir);
      expect(crashed.gaps.find((g) => g['id'] === gap.id)?.['fill_state']).toBe('filling');
      expect(crashed.segments.filter((s) => s.source === 'edge' || isTempName(s.path))).toEqual([]);

      await server.stallReplays(false);
      const second = await startChildVigil(dataDir, { cameras, recorder, anr });
      children.push(second);
      // Start-up removed the temp file and reset the gap before reconciliation looked at the folder.
      expect(logLines(second, 'reset interrupted gap refills').map((r) => [r['tempFiles'], r['gaps']])).toEqual([[1, 1]]);
      const restarted = readCatalog(dataDir);
      expect(restarted.segments.filter((s) => isTempName(s.path))).toEqual([]);
      expect(restarted.segments.filter((s) => s.source === 'edge')).toEqual([]);
      // Not stuck in `filling`: it was pending again, so the new run claims and refills it.
      // The gap row is updated, then its event written: wait for both (a loaded run read between them).
      const succeeded = () => readCatalog(dataDir).events.some((e) => e.type === 'gap_refill_succeeded' && JSON.parse(e.payload).gap_id === gap.id);
      const filled = await waitFor('gap filled after the restart', () => {
        const g = gapRow(dataDir, gap.id);
        return g?.fill_state === 'filled' && succeeded() ? g : undefined;
      }, 90_000);
      // The interrupted attempt counts (a refill that kept taking Vigil down must not loop forever).
      expect(filled.fill_attempts, 'the interrupted attempt and the one that filled it').toBe(2);
      const done = readCatalog(dataDir);
      const ofGap = (type: string) => done.events.filter((e) => e.type === type && JSON.parse(e.payload).gap_id === gap.id);
      expect(ofGap('gap_refill_started')).toHaveLength(2);
      expect(ofGap('gap_refill_failed')).toEqual([]);
      expect(ofGap('gap_refill_succeeded')).toHaveLength(1);
      const edge = done.segments.filter((s) => s.source === 'edge' && s.start_ms >= gap.gap_start_ms && s.end_ms <= gap.gap_end_ms);
      expect(edge.length).toBeGreaterThan(0);
      expect(done.segments.filter((s) => isTempName(s.path))).toEqual([]);

      expect(await second.term()).toBe(0);
      expect(await ffmpegPidsFor(dataDir)).toEqual([]);
      const names = await readdir(join(dataDir, 'recordings', 'cam1'));
      expect(names.filter((n) => n.endsWith('.part') || n.startsWith('.refill-'))).toEqual([]);
      expect(await checkConsistency(dataDir)).toEqual([]);
    } finally {
      for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) await c.kill9();
      await server.stop();
      await removeDir(dataDir);
    }
  }, 240_000);
});
