import { afterEach } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import { removeDir, startVigil, waitFor, type TestVigil } from './harness.js';

/** A gap row as the API returns it. */
export type GapJson = { id: number; fill_state: string; fill_attempts: number; last_error: string | null; next_attempt_at: string | null; seconds: number };

/**
 * A live camera whose edge storage keeps footage: record, take the camera away for `outageMs`,
 * bring it back (same port, same edge) with `edgeSinceMs`, and wait until the gap is recorded.
 * `edgeUntil` (given the instant the camera was taken away) makes the edge hold nothing after the
 * instant it returns: a refill of the gap gets less than it asks for.
 */
export async function outage(opts: {
  outageMs: number;
  anr?: Record<string, number>;
  edgeSinceAfterOutage?: boolean;
  edgeUntil?: (goneAtMs: number) => number;
  stalled?: boolean;
  /** The camera's video codec, live and on its edge (default H.264). */
  codec?: 'h264' | 'h265';
}) {
  const codec = opts.codec ? { codec: opts.codec } : {};
  const since = Date.now() - 60_000;
  let server = await RtspServer.start({ mounts: [{ name: 'cam1', ...codec, edge: { sinceMs: since } }] });
  const port = server.port;
  const vigil = await startVigil({
    cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2, anr_enabled: true, anr_preset: 'hikvision' }],
    anr: { settle_seconds: 0, scan_interval_seconds: 1, ...opts.anr },
  });
  const gaps = async () => ((await (await vigil.api('/cameras/cam1/gaps')).json()) as { gaps: GapJson[] }).gaps;
  const status = async () => (await (await vigil.api('/cameras/cam1/status')).json()) as { segments_written: number };
  await waitFor('3 segments', async () => (await status()).segments_written >= 3, 30_000);
  const goneAtMs = Date.now();
  await server.kill();
  await sleep(opts.outageMs);
  server = await RtspServer.start({
    port,
    mounts: [{ name: 'cam1', ...codec, edge: { sinceMs: opts.edgeSinceAfterOutage ? Date.now() : since, ...(opts.edgeUntil ? { untilMs: opts.edgeUntil(goneAtMs) } : {}) } }],
  });
  if (opts.stalled) await server.stallReplays(true);
  const gap = await waitFor('the gap', async () => (await gaps())[0], 40_000);
  return { server, vigil, gaps, gap };
}

/**
 * Registers (in the calling test file) an afterEach that stops each Vigil and fake camera handed to the
 * returned `own`, and removes its data dir.
 */
export function ownAfterEach(): (server: () => RtspServer, vigil: TestVigil) => void {
  let cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.reverse()) await c();
    cleanup = [];
  });
  return (server, vigil) => {
    cleanup.push(async () => {
      await vigil.app.stop();
      await server().stop();
      await removeDir(vigil.dataDir);
    });
  };
}
