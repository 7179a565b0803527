import { basename, dirname } from 'node:path';
import type { ExitInfo, RecorderHandlers, RecorderLauncher, RecorderProcess } from '../../src/media/ffmpeg-process.js';

/** One ffmpeg the fake launcher pretended to start. */
export interface FakeRun {
  readonly cameraId: string;
  readonly program: string;
  readonly args: readonly string[];
  readonly handlers: RecorderHandlers;
  readonly proc: RecorderProcess;
  /** How it ended, once it did (stop → SIGINT exit, kill → SIGKILL, crash → whatever the test gave). */
  exit: ExitInfo | undefined;
  /** Ends the run as if ffmpeg died on its own (a camera lost, a crash). */
  crash(exit?: Partial<ExitInfo>): void;
}

/** What ffmpeg prints and returns when SIGINT makes it close its last segment and quit. */
const SIGINT_EXIT: ExitInfo = { code: 255, signal: null, stderrTail: 'Exiting normally, received signal 2.' };
const SIGKILL_EXIT: ExitInfo = { code: null, signal: 'SIGKILL', stderrTail: '' };

/**
 * A `RecorderLauncher` that never spawns: it keeps each "ffmpeg" running until the supervisor stops
 * or kills it (as the real one does), and lets a test play what ffmpeg would report (progress, a
 * closed segment) through the same handlers. pid 0: nothing is ever signalled nor recorded as a pid.
 */
export class FakeRecorders {
  readonly runs: FakeRun[] = [];
  private readonly waiting = new Set<() => void>();

  readonly launcher: RecorderLauncher = (program, args, handlers) => {
    let settle!: (e: ExitInfo) => void;
    const exited = new Promise<ExitInfo>((resolve) => (settle = resolve));
    const run: FakeRun = {
      cameraId: cameraOf(args),
      program,
      args,
      handlers,
      exit: undefined,
      proc: {
        pid: 0,
        exited,
        stop: async () => end(SIGINT_EXIT),
        kill: async () => end(SIGKILL_EXIT),
      },
      crash: (e) => void end({ code: 1, signal: null, stderrTail: 'Connection refused', ...e }),
    };
    function end(e: ExitInfo): Promise<ExitInfo> {
      if (!run.exit) {
        run.exit = e;
        settle(e);
      }
      return exited;
    }
    this.runs.push(run);
    for (const w of this.waiting) w();
    return run.proc;
  };

  /** Resolves with the camera's running ffmpeg once its supervisor has started one (it does so asynchronously). */
  async started(cameraId: string, timeoutMs = 5_000): Promise<FakeRun> {
    const find = () => this.of(cameraId).find((r) => !r.exit);
    const found = find();
    if (found) return found;
    return new Promise<FakeRun>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(check);
        reject(new Error(`no recorder started for camera "${cameraId}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        const run = find();
        if (!run) return;
        clearTimeout(timer);
        this.waiting.delete(check);
        resolve(run);
      };
      this.waiting.add(check);
    });
  }

  /** The runs of one camera, oldest first. */
  of(cameraId: string): FakeRun[] {
    return this.runs.filter((r) => r.cameraId === cameraId);
  }

  /** Cameras with an ffmpeg running now, sorted. */
  running(): string[] {
    return [...new Set(this.runs.filter((r) => !r.exit).map((r) => r.cameraId))].sort();
  }

  /** The running ffmpeg of a camera; throws when there is none. */
  current(cameraId: string): FakeRun {
    const run = this.of(cameraId).find((r) => !r.exit);
    if (!run) throw new Error(`no recorder runs for camera "${cameraId}"`);
    return run;
  }
}

/** The recorder's argv ends its segment output with `<data>/recordings/<camera>/<run>-%06d.mp4`. */
function cameraOf(args: readonly string[]): string {
  const pattern = args.find((a) => a.endsWith('-%06d.mp4'));
  if (pattern === undefined) throw new Error(`no segment output in argv: ${args.join(' ')}`);
  return basename(dirname(pattern));
}
