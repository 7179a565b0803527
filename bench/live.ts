/**
 * Live view figures: WebSocket open → first fragment (the bytes a player needs for its first frame),
 * the extra CPU of the Vigil Node process per live viewer, as a ratio of what one camera's recorder
 * ffmpeg costs, and what the live path costs for a camera nobody watches (segment files held open by
 * Vigil while unwatched: the live view reads the recording only while watched). Viewers are `ws`
 * clients in the bench process, so their CPU is not counted.
 */
import { readdir, readlink } from 'node:fs/promises';
import { RtspServer, rtspServerAvailable } from '../src/demo/rtsp-server.js';
import { LiveClient } from '../test/support/live-client.js';
import { defer, tempDir } from './cleanup.js';
import { allStats, CpuTracker, percentile, sleep, waitUntil } from './proc.js';
import { startVigilChild, type VigilChild, type VigilEntry } from './processes.js';
import { check, fmt, goal, type SectionResult } from './report.js';

export interface LiveBenchOptions {
  joins: number;
  viewers: number;
  seconds: number;
  entry: VigilEntry;
  log: (msg: string) => void;
}

const MOUNT = { name: 'live', pattern: 'snow', width: 1280, height: 720, fps: 15, bitrateKbps: 2000, shared: true } as const;
const SAMPLE_MS = 500;

interface CpuWindow {
  nodePct: number;
  ffmpegPct: number;
}

/** Open files of the Vigil process that ffmpeg is still writing (not yet renamed by the indexer): the live path's. */
async function openSegmentFiles(pid: number): Promise<number> {
  let n = 0;
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    if (/\/recordings\/[^/]+\/[a-z0-9]+-\d{6}\.mp4$/.test(target)) n++;
  }
  return n;
}

/** CPU of the Vigil process alone and of its children (the recorder ffmpeg), over `seconds`; `onSample` runs at each sample. */
async function measureCpu(vigil: VigilChild, seconds: number, onSample: () => Promise<void> = async () => undefined): Promise<CpuWindow> {
  const tree = new CpuTracker(() => [vigil.pid]);
  const own = new CpuTracker(() => [vigil.pid], false);
  let stats = allStats();
  tree.start(stats);
  own.start(stats);
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    await sleep(Math.min(SAMPLE_MS, Math.max(0, end - performance.now())));
    stats = allStats();
    tree.sample(stats);
    own.sample(stats);
    await onSample();
  }
  stats = allStats();
  tree.stop(stats);
  own.stop(stats);
  return { nodePct: own.percentOfCore, ffmpegPct: tree.percentOfCore - own.percentOfCore };
}

/** Open → first fragment, over `joins` fresh viewers joining at random points of the GOP. */
async function measureJoins(vigil: VigilChild, joins: number, log: (m: string) => void) {
  const openToFirst: number[] = [];
  const connectToFirst: number[] = [];
  for (let i = 0; i < joins; i++) {
    await sleep(200 + Math.random() * 1000);
    const t0 = performance.now();
    const c = await LiveClient.connect(vigil.url, '/cameras/cam/live', vigil.headers);
    try {
      await c.waitForFragments(1, 10_000);
      const first = c.stream().fragments[0];
      if (!first?.keyframe) throw new Error('a live viewer did not start on a keyframe');
      openToFirst.push(first.at - c.openedAt);
      connectToFirst.push(first.at - t0);
    } finally {
      await c.close();
    }
  }
  log(`  ${joins} joins: open → first fragment p50 ${fmt.ms(percentile(openToFirst, 50), 1)}`);
  return { openToFirst, connectToFirst };
}

export async function runLive(o: LiveBenchOptions): Promise<SectionResult[]> {
  const avail = await rtspServerAvailable();
  if (!avail.ok) throw new Error(`RTSP server unavailable: ${avail.reason}`);
  const server = await RtspServer.start({ mounts: [MOUNT] });
  const stopServer = defer('RTSP server', () => server.stop());
  const work = await tempDir('vigil-bench-live-');
  let vigil: VigilChild | undefined;
  const clients: LiveClient[] = [];
  try {
    vigil = await startVigilChild(work.path, [{ id: 'cam', url: server.url(MOUNT.name), segmentSeconds: 10 }], o.entry);
    const v = vigil;
    await waitUntil('recording', async () => ((await (await v.api('/cameras/cam/status')).json()) as { state?: string }).state === 'recording', 60_000, 200);
    await sleep(3_000);
    const joins = await measureJoins(v, o.joins, o.log);
    // The last viewer's follower closes its file within a poll; then nothing of the live path runs.
    await sleep(1_000);
    o.log(`  CPU with 0 viewers, ${o.seconds} s`);
    let unwatchedSamples = 0;
    let unwatchedHeld = 0;
    const idle = await measureCpu(v, o.seconds, async () => {
      unwatchedSamples++;
      if ((await openSegmentFiles(v.pid)) > 0) unwatchedHeld++;
    });
    for (let i = 0; i < o.viewers; i++) clients.push(await LiveClient.connect(v.url, '/cameras/cam/live', v.headers));
    await Promise.all(clients.map((c) => c.waitForFragments(2, 10_000)));
    await sleep(2_000);
    o.log(`  CPU with ${o.viewers} viewers, ${o.seconds} s`);
    let watchedSamples = 0;
    let watchedHeld = 0;
    const watched = await measureCpu(v, o.seconds, async () => {
      watchedSamples++;
      if ((await openSegmentFiles(v.pid)) > 0) watchedHeld++;
    });
    const received = clients.map((c) => c.binaries().reduce((s, b) => s + b.length, 0));
    const st = (await (await v.api('/cameras/cam/status')).json()) as { live_dropped_fragments: number; live_bitrate_bps: number | null };
    for (const c of clients.splice(0)) await c.close();

    const perViewerPct = (watched.nodePct - idle.nodePct) / o.viewers;
    const recorderPct = idle.ffmpegPct;
    const ratio = perViewerPct / recorderPct;
    const p50 = percentile(joins.openToFirst, 50);
    const p95 = percentile(joins.openToFirst, 95);
    return [
      {
        name: 'live',
        rows: [
          {
            figure: `Live: WebSocket open → first fragment (${joins.openToFirst.length} joins; p50 / p95)`,
            value: `${fmt.ms(p50)} / ${fmt.ms(p95)}`,
            baseline: `connect → first: ${fmt.ms(percentile(joins.connectToFirst, 50))} p50`,
            goal: goal('p95 ≤ 500 ms (first frame)', check(p95, (p) => p <= 500)),
          },
          {
            figure: 'Live: a camera nobody watches — samples with a segment file open for live / all samples',
            value: `${unwatchedHeld} / ${unwatchedSamples}`,
            baseline: `${watchedHeld} / ${watchedSamples} while watched`,
            goal: goal('0: nothing read unwatched', check(unwatchedHeld, (n) => n === 0)),
          },
          {
            figure: `Live: extra Vigil CPU per viewer (${o.viewers} viewers, 720p ~2 Mbit/s)`,
            value: fmt.pct(perViewerPct),
            baseline: `${fmt.pct(recorderPct)} (one recorder ffmpeg)`,
            ratio: fmt.ratio(ratio),
          },
          {
            figure: '  Vigil Node process with 0 / N viewers',
            value: `${fmt.pct(idle.nodePct)} / ${fmt.pct(watched.nodePct)}`,
          },
        ],
        data: {
          rtspMount: `${MOUNT.width}x${MOUNT.height} ${MOUNT.pattern} ${MOUNT.fps} fps ${MOUNT.bitrateKbps} kbps`,
          method:
            'open = the ws client\'s "open" event; first fragment = the first binary moof+mdat (a keyframe) received; ' +
            'CPU = utime+stime of the Vigil Node process (without children) over the window, with 0 then N ws viewers reading in the bench process',
          openToFirstFragmentMs: joins.openToFirst,
          connectToFirstFragmentMs: joins.connectToFirst,
          cpu: { idle, watched, viewers: o.viewers, seconds: o.seconds, perViewerPercentOfCore: perViewerPct, ratioToRecorder: ratio },
          bytesPerViewer: received,
          droppedFragments: st.live_dropped_fragments,
          liveBitrateBps: st.live_bitrate_bps,
          unwatchedLivePath: { samples: unwatchedSamples, samplesWithOpenSegment: unwatchedHeld, watchedSamples, samplesWithOpenSegmentWhileWatched: watchedHeld },
          goalP95Ms: 500,
        },
      },
    ];
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
    await vigil?.stop();
    await work.remove();
    await stopServer();
  }
}
