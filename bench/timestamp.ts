/**
 * Figure 4 (informative): how far the first segment's start lies from the wall-clock capture time of
 * the first frame the camera sent (the RTSP server's `first_rtp`), over fresh Vigil starts.
 */
import { RtspServer, rtspServerAvailable } from '../src/demo/rtsp-server.js';
import { defer, tempDir } from './cleanup.js';
import { mean, waitUntil } from './proc.js';
import { startVigilChild, type VigilEntry } from './processes.js';
import { check, fmt, goal, type SectionResult } from './report.js';

export interface TimestampOptions {
  repetitions: number;
  entry: VigilEntry;
  log: (msg: string) => void;
}

const MOUNT = { name: 'ts', pattern: 'snow', width: 1280, height: 720, fps: 15, bitrateKbps: 2000, shared: false } as const;

export async function runTimestamp(o: TimestampOptions): Promise<SectionResult[]> {
  const avail = await rtspServerAvailable();
  if (!avail.ok) throw new Error(`RTSP server unavailable: ${avail.reason}`);
  const server = await RtspServer.start({ mounts: [MOUNT] });
  const stopServer = defer('RTSP server', () => server.stop());
  const diffs: number[] = [];
  const keyframeDiffs: number[] = [];
  try {
    for (let rep = 0; rep < o.repetitions; rep++) {
      const work = await tempDir('vigil-bench-ts-');
      try {
        const after = Date.now();
        const vigil = await startVigilChild(work.path, [{ id: 'cam', url: server.url(MOUNT.name), segmentSeconds: 2 }], o.entry);
        try {
          const rtpMs = await server.waitForFirstRtp(MOUNT.name, { after, timeoutMs: 30_000 });
          const keyMs = await server.waitForFirstKeyframe(MOUNT.name, { after, timeoutMs: 30_000 });
          const startIso = await waitUntil(
            'the first segment',
            async () => {
              const res = await vigil.api('/cameras/cam/segments?limit=1');
              const body = (await res.json()) as { segments?: Array<{ start: string }> };
              return body.segments?.[0]?.start;
            },
            30_000,
            100,
          );
          diffs.push(Date.parse(startIso) - rtpMs);
          keyframeDiffs.push(Date.parse(startIso) - keyMs);
          o.log(`  run ${rep + 1}/${o.repetitions}: first segment start − first RTP frame = ${(diffs.at(-1) as number).toFixed(1)} ms`);
        } finally {
          await vigil.stop();
        }
      } finally {
        await work.remove();
      }
    }
  } finally {
    await stopServer();
  }
  const abs = diffs.map(Math.abs);
  return [
    {
      name: 'timestamp',
      rows: [
        {
          figure: `First segment start − camera's first frame (${diffs.length} starts; mean error / max |error|)`,
          value: `${fmt.ms(mean(diffs), 1)} / ${fmt.ms(Math.max(...abs), 1)}`,
          goal: goal('≤ 100 ms (informative)', check(Math.max(...abs), (m) => m <= 100)),
        },
      ],
      data: {
        repetitions: diffs.length,
        segmentSeconds: 2,
        method: "segment.start (API) − wall_ms of the RTSP server's first_rtp for a non-shared mount (capture time of the first frame sent)",
        diffsMs: diffs,
        diffsVsFirstKeyframeMs: keyframeDiffs,
        meanMs: mean(diffs),
        meanAbsMs: mean(abs),
        maxAbsMs: Math.max(...abs),
        goalMs: 100,
      },
    },
  ];
}
