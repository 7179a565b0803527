import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import { checkConsistency, readCatalog } from '../support/footage.js';
import { ffmpegPidsFor, removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';

type GapJson = { id: number; fill_state: string; fill_attempts: number; last_error: string | null; next_attempt_at: string | null; seconds: number };

/**
 * A live camera whose edge storage keeps footage: record, take the camera away for `outageMs`,
 * bring it back (same port, same edge) with `edgeSinceMs`, and wait until the gap is recorded.
 */
async function outage(opts: { outageMs: number; anr?: Record<string, number>; edgeSinceAfterOutage?: boolean; stalled?: boolean }) {
  const since = Date.now() - 60_000;
  let server = await RtspServer.start({ mounts: [{ name: 'cam1', edge: { sinceMs: since } }] });
  const port = server.port;
  const vigil = await startVigil({
    cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2, anr_enabled: true, anr_preset: 'hikvision' }],
    anr: { settle_seconds: 0, scan_interval_seconds: 1, ...opts.anr },
  });
  const gaps = async () => ((await (await vigil.api('/cameras/cam1/gaps')).json()) as { gaps: GapJson[] }).gaps;
  const status = async () => (await (await vigil.api('/cameras/cam1/status')).json()) as { segments_written: number };
  await waitFor('3 segments', async () => (await status()).segments_written >= 3, 30_000);
  await server.kill();
  await sleep(opts.outageMs);
  server = await RtspServer.start({
    port,
    mounts: [{ name: 'cam1', edge: { sinceMs: opts.edgeSinceAfterOutage ? Date.now() : since } }],
  });
  if (opts.stalled) await server.stallReplays(true);
  const gap = await waitFor('the gap', async () => (await gaps())[0], 40_000);
  return { server, vigil, gaps, gap };
}

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});
function own(server: () => RtspServer, vigil: TestVigil): void {
  cleanup.push(async () => {
    await vigil.app.stop();
    await server().stop();
    await removeDir(vigil.dataDir);
  });
}

describe('edge-storage backfill (ANR) against a fake edge camera', () => {
  it('refills a 15 s outage from the edge: filled, ≥ 90 % covered, no overlap, no hole, events logged', async () => {
    const { server, vigil, gaps, gap } = await outage({ outageMs: 15_000 });
    own(() => server, vigil);
    const filled = await waitFor('gap filled', async () => {
      const g = (await gaps()).find((x) => x.id === gap.id);
      return g?.fill_state === 'filled' ? g : undefined;
    }, 90_000).catch(async (err: Error) => {
      // Say why: the gap rows, the refill events and what the fake camera saw.
      const events = readCatalog(vigil.dataDir).events.filter((e) => e.type.startsWith('gap_') || e.type.startsWith('segment_')).map((e) => `${e.type} ${e.payload}`);
      const segs = readCatalog(vigil.dataDir).segments.map((x) => `${x.id} ${x.start_ms}-${x.end_ms} ${x.source} ${x.path}`);
      throw new Error(`${err.message}\n${segs.join('\n')}\n${JSON.stringify(await gaps())}\n${events.join('\n')}\n${JSON.stringify(server.replayEvents('cam1'))}`);
    });
    expect(filled.fill_attempts).toBe(0);
    const cat = readCatalog(vigil.dataDir);
    const g = cat.gaps[0] as { gap_start_ms: number; gap_end_ms: number };
    const edge = cat.segments.filter((s) => s.source === 'edge');
    expect(edge.length).toBeGreaterThan(0);
    const covered = edge.reduce((sum, s) => sum + Math.min(s.end_ms, g.gap_end_ms) - Math.max(s.start_ms, g.gap_start_ms), 0);
    expect(covered / (g.gap_end_ms - g.gap_start_ms)).toBeGreaterThanOrEqual(0.9);
    const timeline = (await (await vigil.api(`/cameras/cam1/timeline?from=${new Date(g.gap_start_ms - 4000).toISOString()}&to=${new Date(g.gap_end_ms + 4000).toISOString()}`)).json()) as { spans: unknown[] };
    expect(timeline.spans).toHaveLength(1);
    const types = cat.events.filter((e) => e.type.startsWith('gap_refill_'));
    expect(types.map((e) => e.type)).toEqual(['gap_refill_started', 'gap_refill_succeeded']);
    expect(types.every((e) => e.request_id === null)).toBe(true);
    expect(JSON.parse(types[1]!.payload).seconds_recovered).toBeGreaterThan(0.9 * (g.gap_end_ms - g.gap_start_ms) / 1000);
    expect(server.replayEvents('cam1').some((e) => e.event === 'replay')).toBe(true);
    await vigil.app.stop();
    expect(await checkConsistency(vigil.dataDir)).toEqual([]);
  });

  it('an edge that answers 404: attempts back off, the gap fails after the maximum, and a manual refill re-queues it', async () => {
    const { server, vigil, gaps, gap } = await outage({
      outageMs: 6_000,
      edgeSinceAfterOutage: true,
      anr: { max_attempts: 2, backoff_initial_ms: 300, backoff_max_ms: 1000 },
    });
    own(() => server, vigil);
    const failed = await waitFor('gap failed', async () => {
      const g = (await gaps()).find((x) => x.id === gap.id);
      return g?.fill_state === 'failed' ? g : undefined;
    }, 60_000);
    expect(failed.fill_attempts).toBe(2);
    expect(failed.last_error).toMatch(/404|not found/i);
    const failures = readCatalog(vigil.dataDir).events.filter((e) => e.type === 'gap_refill_failed');
    expect(failures).toHaveLength(2);
    expect(failures.every((e) => e.request_id === null && JSON.parse(e.payload).reason)).toBe(true);
    expect(JSON.parse(failures[0]!.payload).next_attempt_at).toBeTruthy();
    expect(server.replayEvents('cam1').some((e) => e.event === 'replay_refused')).toBe(true);

    const res = await vigil.api(`/cameras/cam1/gaps/${gap.id}/refill`, { method: 'POST' });
    expect(res.status).toBe(202);
    const body = (await res.json()) as GapJson;
    expect(body.fill_attempts).toBe(0);
    expect(['pending', 'filling']).toContain(body.fill_state);
    const requested = readCatalog(vigil.dataDir).events.find((e) => e.type === 'gap_refill_requested');
    expect(requested?.request_id).toBe(res.headers.get('x-request-id'));
    await waitFor('tried again', async () => readCatalog(vigil.dataDir).events.filter((e) => e.type === 'gap_refill_failed').length >= 3, 30_000);
  });

  it('an edge that stalls: the refill is killed by its timeout, nothing partial is indexed, no ffmpeg is left, and the gap is retried', async () => {
    const { server, vigil, gaps, gap } = await outage({
      outageMs: 6_000,
      stalled: true,
      // An attempt already in flight when the edge recovers may still time out; leave room for it.
      anr: { timeout_margin_seconds: 3, backoff_initial_ms: 500, backoff_max_ms: 1000, max_attempts: 10 },
    });
    own(() => server, vigil);
    const retried = await waitFor('a timed-out attempt', async () => {
      const g = (await gaps()).find((x) => x.id === gap.id);
      return g && g.fill_attempts >= 1 ? g : undefined;
    }, 60_000);
    expect(retried.last_error).toMatch(/timed out/);
    expect(readCatalog(vigil.dataDir).segments.filter((s) => s.source === 'edge')).toEqual([]);
    const names = await readdir(join(vigil.dataDir, 'recordings', 'cam1'));
    expect(names.filter((n) => n.startsWith('.refill-') && !n.endsWith(`-${gap.id}.part`))).toEqual([]);
    await server.stallReplays(false);
    const filled = await waitFor('gap filled on retry', async () => {
      const g = (await gaps()).find((x) => x.id === gap.id);
      return g?.fill_state === 'filled' ? g : undefined;
    }, 90_000);
    expect(filled.fill_attempts).toBeGreaterThanOrEqual(1);
    expect(await ffmpegPidsFor(join(vigil.dataDir, 'recordings', 'cam1', '.refill-'))).toEqual([]);
    await vigil.app.stop();
    expect((await readdir(join(vigil.dataDir, 'recordings', 'cam1'))).filter((n) => n.endsWith('.part'))).toEqual([]);
    expect(await checkConsistency(vigil.dataDir)).toEqual([]);
  });
});
