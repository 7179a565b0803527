import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import type { GapJson } from '../support/anr-outage.js';
import { checkConsistency, readCatalog } from '../support/footage.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';
import { fileTimecodes, imageTimecode } from '../support/timecode.js';

/**
 * Invariant 15, proved from outside: a fake camera burns the instant each frame shows into the frame
 * (a QR code: its capture instant live, the replayed span's own instant from its edge storage), and
 * every frame Vigil serves is compared with it — snapshots of live, refilled and restart-adjacent
 * footage, and clips across the live↔edge boundaries.
 */
const FPS = 15;
const FRAME_MS = 1000 / FPS;
/** Slack on top of one frame interval: ms rounding of rows, JPEG/QR decode never adds any. */
const SLACK_MS = 2;
/**
 * How late live footage may be placed: one frame interval. The burned-in instant is the frame's
 * capture instant (its RTP time); Vigil places live frames by their arrival, after the encoder, RTP and
 * ffmpeg (measured ~17 ms at 15 fps: docs/proof.md, `npm run bench -- --only placement`). Edge
 * footage, placed by the replayed span's own time, is held to the ms.
 */
const LIVE_LATE_MS = FRAME_MS;

type Row = { id: number; start_ms: number; end_ms: number; source: string; media_offset_ms: number };

describe('every frame at its true instant (burned-in timecodes)', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  let gap: { start: number; end: number };
  let rows: Row[];
  let reconnectRow: Row;
  let lastBeforeOutage: Row;

  beforeAll(async () => {
    const since = Date.now() - 60_000;
    server = await RtspServer.start({ mounts: [{ name: 'cam1', fps: FPS, code: true, edge: { sinceMs: since } }] });
    const port = server.port;
    vigil = await startVigil({
      cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2, anr_enabled: true, anr_preset: 'hikvision' }],
      anr: { settle_seconds: 0, scan_interval_seconds: 1 },
    });
    const status = async () => (await (await vigil.api('/cameras/cam1/status')).json()) as { segments_written: number };
    await waitFor('4 segments', async () => (await status()).segments_written >= 4, 30_000);
    await server.kill();
    await sleep(6000);
    server = await RtspServer.start({ port, mounts: [{ name: 'cam1', fps: FPS, code: true, edge: { sinceMs: since } }] });
    let last: unknown;
    const filled = await waitFor('the gap refilled', async () => {
      const g = ((await (await vigil.api('/cameras/cam1/gaps')).json()) as { gaps: Array<GapJson & { gap_start: string; gap_end: string }> }).gaps[0];
      last = g;
      return g?.fill_state === 'filled' ? g : undefined;
    }, 60_000).catch((err: unknown) => {
      throw new Error(`${String(err)}; the gap: ${JSON.stringify(last)}`);
    });
    gap = { start: Date.parse(filled.gap_start), end: Date.parse(filled.gap_end) };
    await waitFor('3 segments after the reconnect', () => readCatalog(vigil.dataDir).segments.filter((r) => (r.start_ms as number) >= gap.end).length >= 3, 30_000);
    rows = readCatalog(vigil.dataDir).segments as unknown as Row[];
    reconnectRow = rows.find((r) => r.source === 'live' && r.start_ms >= gap.end) as Row;
    lastBeforeOutage = rows.filter((r) => r.source === 'live' && r.end_ms <= gap.start).at(-1) as Row;
  }, 150_000);

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) {
      expect(await checkConsistency(vigil.dataDir)).toEqual([]);
      await removeDir(vigil.dataDir);
    }
  });

  /** The burned-in instant of the snapshot at `at`, and the frame time Vigil says it shows. */
  async function shot(at: number): Promise<{ code: number; frameMs: number }> {
    const res = await vigil.api(`/cameras/cam1/snapshot.jpg?at=${new Date(at).toISOString()}`);
    expect(res.status, `snapshot at ${new Date(at).toISOString()}`).toBe(200);
    const code = await imageTimecode(Buffer.from(await res.arrayBuffer()));
    expect(code, `no timecode in the snapshot at ${new Date(at).toISOString()}`).toBeDefined();
    return { code: code as number, frameMs: Date.parse(res.headers.get('x-vigil-frame-time') ?? '') };
  }

  /**
   * Snapshots at `n` instants spread over [from, to): each shows the frame whose burned-in instant is
   * the frame time Vigil gives it, never later and at most `lateMs` earlier, and that frame is the
   * one on screen at the instant asked for.
   */
  async function expectTrueInstants(what: string, from: number, to: number, lateMs: number, n = 20): Promise<number[]> {
    const errors: number[] = [];
    for (let i = 0; i < n; i++) {
      const at = Math.round(from + ((to - from) * (i + 0.5)) / n);
      const { code, frameMs } = await shot(at);
      const where = `${what} at ${new Date(at).toISOString()}`;
      // Where Vigil places the frame (its frame time) against the instant burned into it.
      expect(frameMs - code, `${where}: frame time − burned-in instant`).toBeGreaterThanOrEqual(-FRAME_MS - SLACK_MS);
      expect(frameMs - code, `${where}: frame time − burned-in instant`).toBeLessThanOrEqual(lateMs + SLACK_MS);
      // The frame shown at `at` is the one whose time is the last at or before it.
      expect(at - frameMs, `${where}: instant − frame time`).toBeGreaterThanOrEqual(0);
      expect(at - frameMs, `${where}: instant − frame time`).toBeLessThanOrEqual(FRAME_MS + SLACK_MS);
      errors.push(frameMs - code);
    }
    return errors;
  }

  it('places live footage at its capture instants (20 snapshots over the first run)', async () => {
    const first = rows.filter((r) => r.source === 'live' && r.end_ms <= gap.start);
    await expectTrueInstants('live', (first[0] as Row).start_ms, (first.at(-1) as Row).end_ms, LIVE_LATE_MS);
  });

  it('places refilled edge footage at the instants it was recorded on the camera (20 snapshots over the gap)', async () => {
    const edge = rows.filter((r) => r.source === 'edge');
    expect(edge.length).toBeGreaterThan(0);
    // Every refill starts inside its file (the whole second asked for lies before the gap).
    for (const r of edge) expect(r.media_offset_ms).toBeGreaterThanOrEqual(0);
    const errors = await expectTrueInstants('edge', gap.start, gap.end, FRAME_MS);
    // Placed by the replayed span's own time, the refill is exact to the ms, not merely to a frame.
    for (const e of errors) expect(Math.abs(e)).toBeLessThanOrEqual(SLACK_MS);
  });

  it('places the footage either side of a reconnect at its instants (the last second before, the first after)', async () => {
    await expectTrueInstants('before the outage', lastBeforeOutage.end_ms - 1000, lastBeforeOutage.end_ms, LIVE_LATE_MS, 10);
    await expectTrueInstants('after the reconnect', reconnectRow.start_ms, reconnectRow.start_ms + 1000, LIVE_LATE_MS, 10);
  });

  /**
   * A clip of [from, to): every frame presented in order, none twice, each at its own instant (as
   * placed: live within LIVE_LATE_MS), and the clip as long as the range.
   */
  async function expectTrueClip(what: string, from: number, to: number): Promise<void> {
    const res = await vigil.api(`/cameras/cam1/clip.mp4?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`);
    expect(res.status, what).toBe(200);
    const near = rows.filter((r) => r.end_ms >= from - 1000 && r.start_ms <= to + 1000).map((r) => `${r.source} ${r.start_ms}–${r.end_ms} +${r.media_offset_ms}`);
    expect(res.headers.get('x-vigil-gap-count'), `${what}: holes ${res.headers.get('x-vigil-gaps')} among rows ${near.join(', ')} (gap ${gap.start}–${gap.end})`).toBe('0');
    const body = await res.arrayBuffer().catch((err: unknown) => {
      // A clip cut off mid-body: say what Vigil logged about it.
      const said = vigil.logs().split('\n').filter((l) => /clip|"level":(40|50)/.test(l)).slice(-8).join('\n');
      throw new Error(`${what}: the clip's body ended early (${String(err)}); Vigil logged:\n${said}`);
    });
    const all = await fileTimecodes(Buffer.from(body));
    // Frames before the edit list's start are the GOP's pre-roll, not presented.
    const frames = all.filter((f) => f.ptsSeconds >= -0.0005);
    expect(frames.length, what).toBeGreaterThan(0);
    const pts = frames.map((f) => f.ptsSeconds * 1000);
    const durationMs = (pts.at(-1) as number) - (pts[0] as number) + FRAME_MS;
    // The range's length, to within the live placement's lateness and a connection's first frame
    // (ffmpeg stamps it a tick before the second: it shows for 1/90000 s).
    expect(Math.abs(durationMs - (to - from)), `${what}: clip duration ${durationMs} ms`).toBeLessThanOrEqual(LIVE_LATE_MS + FRAME_MS + SLACK_MS);
    // Uniform spacing: every frame lasts one interval, except at the one boundary where a live run and a
    // refill's file meet: live footage is placed by arrival (up to LIVE_LATE_MS after its capture),
    // edge footage exactly, so the frame before the boundary is cut short (measured: 33 ms at 15 fps),
    // never longer (that would be a frame missing).
    const steps = pts.slice(1).map((t, i) => t - (pts[i] as number));
    const uneven = steps.map((d, i) => [i, Math.round(d * 10) / 10] as const).filter(([, d]) => Math.abs(d - FRAME_MS) > SLACK_MS);
    expect(uneven.length, `${what}: frames not one interval apart (index, ms): ${JSON.stringify(uneven)}`).toBeLessThanOrEqual(1);
    for (const [, d] of uneven) expect(d, `${what}: a step longer than a frame would be a frame missing`).toBeLessThan(FRAME_MS);
    const decoded = frames.filter((f) => f.ms !== undefined);
    expect(decoded.length / frames.length, `${what}: share of frames whose code decodes`).toBeGreaterThan(0.9);
    // In order. Where live footage follows a refill it starts up to LIVE_LATE_MS after the instant it
    // shows (placed by arrival), so at that one boundary the clip may step back by that much: the
    // refill's last frames and the live run's first show the same instants.
    const backSteps = decoded.filter((f, i) => i > 0 && (f.ms as number) <= (decoded[i - 1]!.ms as number));
    expect(backSteps.length, `${what}: frames out of order`).toBeLessThanOrEqual(1);
    for (let i = 1; i < decoded.length; i++) {
      expect(decoded[i]!.ms as number, `${what}: frame ${i} after frame ${i - 1}`).toBeGreaterThan((decoded[i - 1]!.ms as number) - LIVE_LATE_MS);
    }
    for (const f of decoded) {
      const presentedAt = from + f.ptsSeconds * 1000;
      expect(presentedAt - (f.ms as number), `${what}: frame at ${f.ptsSeconds}s`).toBeGreaterThanOrEqual(-FRAME_MS - SLACK_MS);
      expect(presentedAt - (f.ms as number), `${what}: frame at ${f.ptsSeconds}s`).toBeLessThanOrEqual(LIVE_LATE_MS + SLACK_MS);
    }
  }

  it('joins live and refilled footage into clips of the requested length, every frame in order at its instant', async () => {
    await expectTrueClip('live → edge', gap.start - 3000, gap.start + 3000);
    await expectTrueClip('edge → live', gap.end - 3000, gap.end + 3000);
  });
});
