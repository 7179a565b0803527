/**
 * Time truth figures (invariant 15): a fake camera burns each frame's instant into it (a QR code:
 * its capture instant live, the replayed span's own instant from its edge storage). Vigil records it
 * through `outages` outages, each refilled from the edge; then every figure compares what Vigil says
 * with what the frames say:
 *  - placement error of live, edge and clamped footage: the burned-in instant of a snapshot's frame −
 *    the frame time Vigil gives it (`X-Vigil-Frame-Time`), at instants spread over each kind;
 *  - first-segment error after each (re)connect: a run's first row's start − the burned-in instant of
 *    its file's first presented frame (the frame the recorder actually received);
 *  - refill: camera reconnect → gap filled.
 */
import { RtspServer, rtspServerAvailable } from '../src/demo/rtsp-server.js';
import type { GapJson } from '../test/support/anr-outage.js';
import { readCatalog } from '../test/support/footage.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../test/support/harness.js';
import { fileTimecodes, imageTimecode } from '../test/support/timecode.js';
import { defer } from './cleanup.js';
import { percentile, sleep } from './proc.js';
import { check, fmt, goal, type SectionResult } from './report.js';

export interface PlacementOptions {
  outages: number;
  outageSeconds: number;
  snapshots: number;
  log: (msg: string) => void;
}

const FPS = 15;
const FRAME_MS = 1000 / FPS;

type Row = { id: number; start_ms: number; end_ms: number; source: string; media_offset_ms: number };

export async function runPlacement(o: PlacementOptions): Promise<SectionResult[]> {
  const avail = await rtspServerAvailable();
  if (!avail.ok) throw new Error(`RTSP server unavailable: ${avail.reason}`);
  const since = Date.now() - 60_000;
  const mount = { name: 'cam1', fps: FPS, code: true, edge: { sinceMs: since } };
  let server = await RtspServer.start({ mounts: [mount] });
  const port = server.port;
  const stopServer = defer('RTSP server', () => server.stop());
  let vigil: TestVigil | undefined;
  const refillMs: number[] = [];
  try {
    vigil = await startVigil({
      cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2, anr_enabled: true, anr_preset: 'hikvision' }],
      anr: { settle_seconds: 0, scan_interval_seconds: 1 },
    });
    const v = vigil;
    const gaps = async () => ((await (await v.api('/cameras/cam1/gaps')).json()) as { gaps: GapJson[] }).gaps;
    const segments = () => readCatalog(v.dataDir).segments.length;
    await waitFor('4 segments', () => segments() >= 4, 30_000);
    for (let i = 0; i < o.outages; i++) {
      await server.kill();
      await sleep(o.outageSeconds * 1000);
      server = await RtspServer.start({ port, mounts: [mount] });
      const upAt = Date.now();
      await waitFor(`gap ${i + 1} filled`, async () => {
        const g = await gaps();
        return g.length === i + 1 && g.every((x) => x.fill_state === 'filled');
      }, (o.outageSeconds + 60) * 1000, 50);
      refillMs.push(Date.now() - upAt);
      const n = segments();
      await waitFor('3 more segments', () => segments() >= n + 3, 30_000);
      o.log(`  outage ${i + 1}/${o.outages}: reconnect → filled ${(refillMs.at(-1) as number).toFixed(0)} ms`);
    }
    const rows = readCatalog(v.dataDir).segments as unknown as Row[];

    const shotError = async (at: number): Promise<number | undefined> => {
      const res = await v.api(`/cameras/cam1/snapshot.jpg?at=${new Date(at).toISOString()}`);
      if (res.status !== 200) return undefined;
      const code = await imageTimecode(Buffer.from(await res.arrayBuffer()));
      const frameMs = Date.parse(res.headers.get('x-vigil-frame-time') ?? '');
      return code === undefined ? undefined : code - frameMs;
    };
    /** Errors at `n` instants spread over the union of `spans`. */
    const errorsOver = async (what: string, spans: Array<[number, number]>, n: number): Promise<{ errors: number[]; undecoded: number }> => {
      const total = spans.reduce((s, [a, b]) => s + (b - a), 0);
      const errors: number[] = [];
      let undecoded = 0;
      for (let i = 0; i < n; i++) {
        let t = (total * (i + 0.5)) / n;
        const span = spans.find(([a, b]) => (t < b - a ? true : ((t -= b - a), false))) as [number, number];
        const e = await shotError(Math.round(span[0] + t));
        if (e === undefined) undecoded++;
        else errors.push(e);
      }
      o.log(`  ${what}: ${errors.length} snapshots, p50 |error| ${percentile(errors.map(Math.abs), 50).toFixed(1)} ms`);
      return { errors, undecoded };
    };
    const live = rows.filter((r) => r.source === 'live');
    const edge = rows.filter((r) => r.source === 'edge');
    const liveRes = await errorsOver('live', live.map((r) => [r.start_ms, r.end_ms]), o.snapshots);
    const edgeRes = await errorsOver('edge', edge.map((r) => [r.start_ms, r.end_ms]), o.snapshots);
    // Clamped: an edge row starts `media_offset_ms` into its file (the whole second asked for lies
    // before its gap), and its end is cut where the live footage resumes: the second at either end.
    const clampedSpans = edge.flatMap((r): Array<[number, number]> => [
      [r.start_ms, Math.min(r.end_ms, r.start_ms + 1000)],
      [Math.max(r.start_ms, r.end_ms - 1000), r.end_ms],
    ]);
    const clampedRes = await errorsOver('clamped', clampedSpans, o.snapshots);

    // The first row of each run: the very first, and each live row that starts where a gap ended.
    const gapEnds = new Set(readCatalog(v.dataDir).gaps.map((g) => g.gap_end_ms as number));
    const firsts = live.filter((r, i) => i === 0 || gapEnds.has(r.start_ms));
    const firstErrors: number[] = [];
    for (const r of firsts) {
      const res = await v.api(`/segments/${r.id}/media.mp4`);
      const frames = await fileTimecodes(Buffer.from(await res.arrayBuffer()));
      const f = frames.find((x) => x.ms !== undefined);
      if (!f) continue;
      // The row's start is the instant of media time media_offset_ms, measured from the file's first
      // presented frame (0 for a recorder's file).
      const presentedAt = r.start_ms - r.media_offset_ms + (f.ptsSeconds - (frames[0] as { ptsSeconds: number }).ptsSeconds) * 1000;
      firstErrors.push(presentedAt - (f.ms as number));
    }
    o.log(`  first segments: ${firstErrors.map((e) => e.toFixed(0)).join(', ')} ms`);

    const p50max = (xs: number[]) => `${fmt.ms(percentile(xs.map(Math.abs), 50), 1)} / ${fmt.ms(Math.max(...xs.map(Math.abs)), 1)}`;
    const within = (xs: number[]) => check(Math.max(...xs.map(Math.abs)), (m) => m <= FRAME_MS);
    return [
      {
        name: 'placement',
        rows: [
          { figure: `Placement error, live footage (${liveRes.errors.length} snapshots; burned-in − frame time; p50 / max |error|)`, value: p50max(liveRes.errors), goal: goal(`≤ 1 frame (${FRAME_MS.toFixed(0)} ms)`, within(liveRes.errors)) },
          { figure: `  edge-refilled footage (${edgeRes.errors.length} snapshots over ${o.outages} refilled gaps)`, value: p50max(edgeRes.errors), goal: goal(`≤ 1 frame`, within(edgeRes.errors)) },
          { figure: `  clamped footage (${clampedRes.errors.length} snapshots in the first/last second of refills)`, value: p50max(clampedRes.errors), goal: goal(`≤ 1 frame`, within(clampedRes.errors)) },
          { figure: `First-segment error after (re)connect (${firstErrors.length} runs; row start − first frame's burned-in instant; p50 / max |error|)`, value: p50max(firstErrors), goal: goal('≤ 100 ms', check(Math.max(...firstErrors.map(Math.abs)), (m) => m <= 100)) },
          { figure: `Refill: camera reconnect → gap filled (${o.outageSeconds} s outages; p50 / max)`, value: `${fmt.ms(percentile(refillMs, 50), 0)} / ${fmt.ms(Math.max(...refillMs), 0)}` },
        ],
        data: {
          fps: FPS,
          outages: o.outages,
          outageSeconds: o.outageSeconds,
          method: 'QR timecode burned by the fake camera (scripts/rtsp-server.py code=1): capture instant live, replayed span instant on the edge; decoded from the snapshot JPEG / the segment file',
          liveErrorsMs: liveRes.errors,
          edgeErrorsMs: edgeRes.errors,
          clampedErrorsMs: clampedRes.errors,
          undecoded: { live: liveRes.undecoded, edge: edgeRes.undecoded, clamped: clampedRes.undecoded },
          firstSegmentErrorsMs: firstErrors,
          refillReconnectToFilledMs: refillMs,
        },
      },
    ];
  } finally {
    if (vigil) {
      await vigil.app.stop();
      await removeDir(vigil.dataDir);
    }
    await stopServer();
  }
}
