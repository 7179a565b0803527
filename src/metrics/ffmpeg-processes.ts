/** What each ffmpeg Vigil starts is for: the `kind` label of `vigil_ffmpeg_processes`. */
export const FFMPEG_KINDS = ['recorder', 'substream', 'clip', 'snapshot', 'warm_decoder', 'refill', 'motion', 'preview'] as const;
export type FfmpegKind = (typeof FFMPEG_KINDS)[number];

/**
 * Counts the ffmpeg processes one Vigil has running, by kind. Each launcher is wrapped where the
 * composition root hands it to its service: a process counts from its spawn until its `exited`
 * resolves (every launcher's process has one, which never rejects). Per instance, not per Node
 * process: tests run several Vigils in one process.
 */
export class FfmpegProcesses {
  private readonly running = new Map<FfmpegKind, number>(FFMPEG_KINDS.map((k) => [k, 0]));

  /** `launch`, counted as `kind`. */
  counted<A extends unknown[], P extends { readonly exited: Promise<unknown> }>(kind: FfmpegKind, launch: (...args: A) => P): (...args: A) => P {
    return (...args: A): P => {
      const proc = launch(...args);
      this.add(kind, 1);
      const done = () => this.add(kind, -1);
      proc.exited.then(done, done);
      return proc;
    };
  }

  /** Processes running now, per kind (every kind present). */
  counts(): ReadonlyMap<FfmpegKind, number> {
    return this.running;
  }

  private add(kind: FfmpegKind, delta: number): void {
    this.running.set(kind, (this.running.get(kind) ?? 0) + delta);
  }
}
