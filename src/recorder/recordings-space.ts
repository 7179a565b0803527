/**
 * The recordings disk as recorders see it: they report that it is full, and wait for room before
 * starting ffmpeg again instead of failing against a full disk every few seconds.
 */
export interface RecordingsSpace {
  /** A recorder's ffmpeg failed for lack of space; `detail` is the end of its stderr (redacted). */
  noSpace(cameraId: string, detail: string): Promise<void>;
  /** Resolves at once when there is room, else once room is back, after `maxWaitMs`, or on abort. */
  whenWritable(signal: AbortSignal, maxWaitMs: number): Promise<void>;
}
