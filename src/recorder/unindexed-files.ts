/**
 * A camera's files that hold footage but no catalog row yet: the one ffmpeg writes now, and closed
 * ones waiting in the indexing queue. Recorded playback lists their whole fragments so the newest
 * footage is reviewable seconds after it was recorded, not once its segment closes.
 */

/** One such file as playback sees it. */
export interface UnindexedFile {
  /** `<run>-<seq>`: the file's name as ffmpeg wrote it, without `.mp4` (stable across the rename). */
  name: string;
  /** Where to read it: the open name first, then the final name once the indexer renamed it. */
  paths: string[];
  /** Wall-clock instant of its first frame (the run's time mapping), undefined before the first report. */
  startMs: number | undefined;
  /** ffmpeg still writes it. */
  open: boolean;
}

interface Entry {
  runId: string;
  seq: number;
  openPath: string;
  finalPath: string | undefined;
  /** Fixed when the file closed; computed from the run's time mapping while it is open. */
  startMs: number | undefined;
  open: boolean;
  estimateStartMs: (() => number | undefined) | undefined;
}

export class UnindexedFiles {
  private entries: Entry[] = [];

  /** ffmpeg began writing file `seq` of run `runId`; `estimateStartMs` places its first frame. */
  opened(runId: string, seq: number, openPath: string, estimateStartMs: () => number | undefined): void {
    this.entries.push({ runId, seq, openPath, finalPath: undefined, startMs: undefined, open: true, estimateStartMs });
  }

  /** ffmpeg listed file `seq` as complete: its start is now fixed, and it is renamed to `finalPath` when indexed. */
  closed(runId: string, seq: number, startMs: number, finalPath: string | undefined): void {
    const e = this.find(runId, seq);
    if (!e) return;
    e.open = false;
    e.startMs = startMs;
    e.finalPath = finalPath;
    e.estimateStartMs = undefined;
  }

  /** The file has its row (or was discarded): playback reads it from the catalog from now on. */
  indexed(runId: string, seq: number): void {
    this.entries = this.entries.filter((e) => e.runId !== runId || e.seq !== seq);
  }

  /** The run's ffmpeg is gone: a file it never listed is left to the end-of-run reconciliation. */
  runEnded(runId: string): void {
    this.entries = this.entries.filter((e) => e.runId !== runId || !e.open);
  }

  list(): UnindexedFile[] {
    return this.entries.map((e) => ({
      name: `${e.runId}-${String(e.seq).padStart(6, '0')}`,
      paths: e.finalPath === undefined ? [e.openPath] : [e.openPath, e.finalPath],
      startMs: e.open ? e.estimateStartMs?.() : e.startMs,
      open: e.open,
    }));
  }

  private find(runId: string, seq: number): Entry | undefined {
    return this.entries.find((e) => e.runId === runId && e.seq === seq);
  }
}
