/**
 * H.265 preview figures: for an H.265 camera (the fake camera's x265, 720p), how long an H.264 preview
 * transcode takes to its first frame (request → first whole fragment of the preview, what a <video>
 * needs to show a picture), live and recorded, and what one preview costs in CPU (the Vigil process
 * tree with one live preview streaming, less the same tree without it), against what recording the
 * camera costs (its recorder ffmpeg).
 */
import { RtspServer, rtspServerAvailable } from '../src/demo/rtsp-server.js';
import { Fmp4StreamSplitter } from '../src/media/fmp4/stream.js';
import { defer, tempDir } from './cleanup.js';
import { allStats, CpuTracker, percentile, sleep, waitUntil } from './proc.js';
import { startVigilChild, type VigilChild, type VigilEntry } from './processes.js';
import { check, fmt, goal, type SectionResult } from './report.js';

export interface PreviewBenchOptions {
  /** Previews opened for the time-to-first-frame figures (live, then as many recorded). */
  joins: number;
  /** CPU window with and without a live preview. */
  seconds: number;
  entry: VigilEntry;
  log: (msg: string) => void;
}

const MOUNT = { name: 'h265', codec: 'h265', pattern: 'ball', width: 1280, height: 720, fps: 15, bitrateKbps: 2000, shared: true } as const;
const SAMPLE_MS = 500;

/** Request → first whole fragment of the preview, then the response is left (abort). */
async function timeToFirstFragment(vigil: VigilChild, path: string): Promise<number> {
  const abort = new AbortController();
  const t0 = performance.now();
  try {
    const res = await fetch(`${vigil.url}/api/v1${path}`, { headers: vigil.headers, signal: abort.signal });
    if (res.status !== 200 || !res.body) throw new Error(`preview ${path}: HTTP ${res.status} ${await res.text()}`);
    const splitter = new Fmp4StreamSplitter();
    const reader = res.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done || !value) throw new Error(`preview ${path} ended before its first fragment`);
      for (const c of splitter.push(Buffer.from(value))) if (c.kind === 'fragment') return performance.now() - t0;
    }
  } finally {
    abort.abort();
  }
}

/** CPU (% of a core) of the Vigil process tree over `seconds`. */
async function treeCpu(vigil: VigilChild, seconds: number): Promise<number> {
  const tree = new CpuTracker(() => [vigil.pid]);
  let stats = allStats();
  tree.start(stats);
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    await sleep(Math.min(SAMPLE_MS, Math.max(0, end - performance.now())));
    stats = allStats();
    tree.sample(stats);
  }
  tree.stop(allStats());
  return tree.percentOfCore;
}

/** A live preview read to the end of the window, as a page plays it. */
function holdPreview(vigil: VigilChild, path: string): { stop: () => Promise<number> } {
  const abort = new AbortController();
  let bytes = 0;
  const done = (async () => {
    const res = await fetch(`${vigil.url}/api/v1${path}`, { headers: vigil.headers, signal: abort.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end || !value) return;
      bytes += value.length;
    }
  })().catch(() => undefined);
  return {
    stop: async () => {
      abort.abort();
      await done;
      return bytes;
    },
  };
}

export async function runPreview(o: PreviewBenchOptions): Promise<SectionResult[]> {
  const avail = await rtspServerAvailable();
  if (!avail.ok) throw new Error(`RTSP server unavailable: ${avail.reason}`);
  const server = await RtspServer.start({ mounts: [MOUNT] });
  const stopServer = defer('RTSP server', () => server.stop());
  const work = await tempDir('vigil-bench-preview-');
  let vigil: VigilChild | undefined;
  try {
    vigil = await startVigilChild(work.path, [{ id: 'cam', url: server.url(MOUNT.name), segmentSeconds: 10 }], o.entry);
    const v = vigil;
    await waitUntil('recording', async () => ((await (await v.api('/cameras/cam/status')).json()) as { state?: string }).state === 'recording', 60_000, 200);
    // Stored footage to preview from: 25 s recorded, the previews start 20 s back.
    await sleep(25_000);
    const live: number[] = [];
    for (let i = 0; i < o.joins; i++) {
      await sleep(300 + Math.random() * 1000);
      live.push(await timeToFirstFragment(v, '/cameras/cam/live/preview.mp4'));
    }
    o.log(`  ${o.joins} live previews: request → first fragment p50 ${fmt.ms(percentile(live, 50))}`);
    const recorded: number[] = [];
    for (let i = 0; i < o.joins; i++) {
      const from = new Date(Date.now() - 20_000 + Math.random() * 5_000).toISOString();
      recorded.push(await timeToFirstFragment(v, `/cameras/cam/playback/preview.mp4?from=${encodeURIComponent(from)}`));
    }
    o.log(`  ${o.joins} recorded previews: request → first fragment p50 ${fmt.ms(percentile(recorded, 50))}`);
    await sleep(1_000);
    o.log(`  CPU without a preview, ${o.seconds} s`);
    const idle = await treeCpu(v, o.seconds);
    const held = holdPreview(v, '/cameras/cam/live/preview.mp4');
    await sleep(3_000);
    o.log(`  CPU with one live preview, ${o.seconds} s`);
    const withPreview = await treeCpu(v, o.seconds);
    const previewBytes = await held.stop();
    const previewPct = withPreview - idle;
    return [
      {
        name: 'preview',
        rows: [
          {
            figure: `H.265 preview: request → first H.264 fragment, live (${live.length}; p50 / p95)`,
            value: `${fmt.ms(percentile(live, 50))} / ${fmt.ms(percentile(live, 95))}`,
            baseline: 'the camera\'s GOP: 1 s',
            goal: goal('p95 ≤ 3 s', check(percentile(live, 95), (p) => p <= 3000)),
          },
          {
            figure: `H.265 preview: request → first H.264 fragment, recorded (${recorded.length}; p50 / p95)`,
            value: `${fmt.ms(percentile(recorded, 50))} / ${fmt.ms(percentile(recorded, 95))}`,
            goal: goal('p95 ≤ 3 s', check(percentile(recorded, 95), (p) => p <= 3000)),
          },
          {
            figure: 'H.265 preview: CPU of one live preview (720p x265 → 360p x264, one thread)',
            value: fmt.pct(previewPct),
            baseline: `${fmt.pct(idle)} (Vigil recording the camera, no preview)`,
            ratio: fmt.ratio(previewPct / idle),
          },
        ],
        data: {
          rtspMount: `${MOUNT.width}x${MOUNT.height} ${MOUNT.codec} ${MOUNT.pattern} ${MOUNT.fps} fps ${MOUNT.bitrateKbps} kbps`,
          method:
            'first fragment = request sent → the first whole moof+mdat of the preview body (fetch in the bench process); ' +
            'CPU = utime+stime of the Vigil process tree (Node, the recorder ffmpeg, the preview ffmpeg) over the window, without then with one live preview read to the end',
          liveMs: live,
          recordedMs: recorded,
          cpu: { idle, withPreview, previewPercentOfCore: previewPct, seconds: o.seconds },
          previewBytes,
        },
      },
    ];
  } finally {
    await vigil?.stop();
    await work.remove();
    await stopServer();
  }
}
