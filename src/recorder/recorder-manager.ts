import type { CameraRow } from '../db/camera.repo.js';
import { CameraRecorder, type CameraRecorderDeps } from './camera-recorder.js';
import type { UnindexedFile } from './unindexed-files.js';
import { setState } from '../db/camera-status.repo.js';
import type { Fence } from '../db/cluster.repo.js';

/** Fields whose change needs a new ffmpeg (a new lease too: its rows carry the new token); a new name does not. */
function recordingKey(c: CameraRow, fence: Fence | undefined): string {
  return JSON.stringify([c.mainUrl, c.segmentSeconds, c.audio ?? 'auto', fence?.nodeId, fence?.token]);
}

/** One recorder per enabled camera; brings the running set in line with the cameras table. */
export class RecorderManager {
  private readonly recorders = new Map<string, CameraRecorder>();
  private chain: Promise<void> = Promise.resolve();

  /** Run ids started by this process (across every recorder): their files are never a crash's leftovers. */
  private readonly ownRuns = new Set<string>();

  constructor(private readonly deps: CameraRecorderDeps) {
    this.deps = { ...deps, ownRuns: this.ownRuns };
  }

  /** Whether `runId` is a recorder run of this process (its files are written or indexed by it). */
  ownsRun(runId: string): boolean {
    return this.ownRuns.has(runId);
  }

  /**
   * Start, stop or restart recorders so that exactly the enabled cameras record. Calls are serialised.
   * In a cluster `fences` holds this node's leases: only those cameras record here, each under its lease.
   */
  sync(cameras: CameraRow[], fences?: ReadonlyMap<string, Fence>): Promise<void> {
    const run = this.chain.then(() => this.apply(cameras, fences));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async apply(cameras: CameraRow[], fences: ReadonlyMap<string, Fence> | undefined): Promise<void> {
    const wanted = new Map(cameras.filter((c) => c.enabled && (!fences || fences.has(c.id))).map((c) => [c.id, c]));
    const stops: Promise<void>[] = [];
    for (const [id, rec] of this.recorders) {
      const want = wanted.get(id);
      if (!want || recordingKey(want, fences?.get(id)) !== recordingKey(rec.camera, rec.fence)) {
        this.recorders.delete(id);
        // Still enabled but no longer this node's lease: another node records it (and writes its status).
        const handedOff = fences !== undefined && cameras.some((c) => c.id === id && c.enabled) && fences.get(id)?.token !== rec.fence?.token;
        stops.push(rec.stop({ handedOff }));
      }
    }
    await Promise.all(stops);
    const now = this.deps.clock.nowMs();
    for (const c of cameras) {
      if (!c.enabled) await setState(this.deps.db, c.id, 'disabled', undefined, now);
    }
    for (const [id, cam] of wanted) {
      if (this.recorders.has(id)) continue;
      const rec = new CameraRecorder(cam, this.deps, fences?.get(id));
      this.recorders.set(id, rec);
      rec.start();
    }
  }

  /** Stops every recorder gracefully (in parallel); their last segments are indexed before this resolves. */
  async stopAll(): Promise<void> {
    await this.chain;
    const all = [...this.recorders.values()];
    this.recorders.clear();
    await Promise.all(all.map((r) => r.stop()));
  }

  /** The newest frame's wall-clock time and whether its media stands still (undefined: not recording). */
  frames(cameraId: string): { lastFrameAtMs: number | undefined; stalled: boolean } | undefined {
    return this.recorders.get(cameraId)?.frames();
  }

  /** A camera's files with footage and no catalog row yet (none when it does not record). */
  unindexedFiles(cameraId: string): UnindexedFile[] {
    return this.recorders.get(cameraId)?.unindexedFiles() ?? [];
  }

  /** Resolves once every recorder running now has spawned its first ffmpeg (or ended without one). */
  async firstLaunches(): Promise<void> {
    await this.chain;
    await Promise.all([...this.recorders.values()].map((r) => r.firstLaunch));
  }

  runningIds(): string[] {
    return [...this.recorders.keys()];
  }
}
