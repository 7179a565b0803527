/**
 * Audio cost: what recording a camera's G.711 audio costs, transcoded to AAC (µ-law, 8 kHz mono, the
 * audio most cameras send), as a share of that camera's recording CPU. Three recorder ffmpegs with
 * Vigil's own argv (buildRecorderArgs) run side by side on one camera (the fake camera's 720p H.264
 * with its `audio: pcmu` tone, one shared media joined without a seek): video only (`audio: off`),
 * video + G.711 → AAC (`aac`, what `audio: auto` does for this camera), and video + AAC stream-copied
 * (`copy`, on a second mount whose camera sends AAC), each one's CPU (utime + stime of its process)
 * over the same window. The transcode's cost is the `aac` recorder's CPU less the video-only one's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { RtspServer, rtspServerAvailable } from '../src/demo/rtsp-server.js';
import { buildRecorderArgs, PROGRESS_FD, ProgressParser, type RecorderAudio } from '../src/media/recorder-args.js';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { defer, tempDir } from './cleanup.js';
import { allStats, CpuTracker, sleep } from './proc.js';
import { fmt, goal, check, type SectionResult } from './report.js';

export interface AudioBenchOptions {
  /** CPU window, seconds. */
  seconds: number;
  log: (msg: string) => void;
}

const VIDEO = { width: 1280, height: 720, fps: 15, bitrateKbps: 2000, pattern: 'ball', shared: true, seek: false } as const;
const SAMPLE_MS = 500;

interface Recorder {
  audio: RecorderAudio;
  child: ChildProcess;
  recording: Promise<void>;
}

function startRecorder(url: string, dir: string, audio: RecorderAudio): Recorder {
  const args = buildRecorderArgs({ url, outputDir: dir, segmentSeconds: 10, socketTimeoutSeconds: 10, fileNamePattern: `${audio}-%06d.mp4`, quickProbe: false, audio });
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  child.stdout?.resume();
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-2000);
  });
  const recording = new Promise<void>((resolve, reject) => {
    const parser = new ProgressParser();
    createInterface({ input: child.stdio[PROGRESS_FD] as Readable }).on('line', (line) => {
      const p = parser.push(line);
      if (p && p.frame > 0) resolve();
    });
    child.once('close', (code) => reject(new Error(`recorder ffmpeg (audio ${audio}) exited with ${code}: ${stderr}`)));
  });
  recording.catch(() => undefined);
  return { audio, child, recording };
}

export async function runAudio(o: AudioBenchOptions): Promise<SectionResult[]> {
  const avail = await rtspServerAvailable();
  if (!avail.ok) throw new Error(`RTSP server unavailable: ${avail.reason}`);
  const server = await RtspServer.start({ mounts: [{ name: 'g711', audio: 'pcmu', ...VIDEO }, { name: 'aac', audio: 'aac', ...VIDEO }] });
  const stopServer = defer('RTSP server', () => server.stop());
  const work = await tempDir('vigil-bench-audio-');
  const recorders: Recorder[] = [];
  try {
    recorders.push(startRecorder(server.url('g711'), work.path, 'off'));
    recorders.push(startRecorder(server.url('g711'), work.path, 'aac'));
    recorders.push(startRecorder(server.url('aac'), work.path, 'copy'));
    await Promise.all(recorders.map((r) => r.recording));
    await sleep(3_000);
    o.log(`  three recorders of one 720p camera (video only, + G.711 → AAC, + AAC copied), ${o.seconds} s`);
    const trackers = recorders.map((r) => new CpuTracker(() => [r.child.pid ?? -1], false));
    let stats = allStats();
    for (const t of trackers) t.start(stats);
    const end = performance.now() + o.seconds * 1000;
    while (performance.now() < end) {
      await sleep(Math.min(SAMPLE_MS, Math.max(0, end - performance.now())));
      stats = allStats();
      for (const t of trackers) t.sample(stats);
    }
    stats = allStats();
    for (const t of trackers) t.stop(stats);
    const [videoOnly, transcode, copy] = trackers.map((t) => t.percentOfCore) as [number, number, number];
    const audioPct = transcode - videoOnly;
    const share = audioPct / transcode;
    return [
      {
        name: 'audio',
        rows: [
          {
            figure: 'Audio: G.711 µ-law 8 kHz → AAC transcode, CPU per camera (recorder with audio less video only)',
            value: fmt.pct(audioPct),
            baseline: `${fmt.pct(transcode)} (the camera's recorder ffmpeg with the transcode; ${fmt.pct(videoOnly)} video only)`,
            ratio: Number.isFinite(share) ? `${(share * 100).toFixed(0)} % of the camera's recording CPU` : 'n/a',
            goal: goal('≤ 50 % of the recording CPU', check(share, (s) => s <= 0.5)),
          },
          {
            figure: 'Audio: AAC stream-copied, CPU of the recorder (720p video + 16 kHz AAC)',
            value: fmt.pct(copy),
            baseline: `${fmt.pct(videoOnly)} (video only)`,
          },
        ],
        data: {
          rtspMount: `${VIDEO.width}x${VIDEO.height} h264 ${VIDEO.pattern} ${VIDEO.fps} fps ${VIDEO.bitrateKbps} kbps, audio pcmu 8 kHz mono (transcoded) / aac 16 kHz mono (copied)`,
          method: 'three ffmpegs with buildRecorderArgs (audio off / aac / copy) on the same shared fake camera media at once; utime+stime of each process over the window',
          cpu: { videoOnly, transcode, copy, transcodePercentOfCore: audioPct, shareOfRecording: share, seconds: o.seconds },
        },
      },
    ];
  } finally {
    for (const r of recorders) {
      if (r.child.exitCode === null && r.child.signalCode === null) {
        r.child.kill('SIGINT');
        await Promise.race([once(r.child, 'close'), sleep(5000)]);
        if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
      }
    }
    await work.remove();
    await stopServer();
  }
}
