/**
 * Detections in, motion intervals out: an interval starts at the first of `minFrames` active frames in
 * a row (one flickering frame is not motion), takes in every active frame until none came for
 * `postRollMs` (pauses shorter than that are one interval: the post-roll merge), and ends at its last
 * active frame. An interval longer than `maxIntervalMs` is closed and the next one opened, so each is
 * bounded (the catalog's range queries rely on it).
 */
import type { Detection } from './detector.js';

export interface MotionInterval {
  startMs: number;
  /** The last active frame's instant; an interval closed at maxIntervalMs ends where the next one starts. */
  endMs: number;
  peakScore: number;
  peakAtMs: number;
  zones: string[];
}

export interface TrackerOptions {
  postRollMs: number;
  /** Consecutive active frames to start an interval (default 2). */
  minFrames?: number;
  /** Default 3 600 000 (MOTION_INTERVAL_MAX_MS of the catalog). */
  maxIntervalMs?: number;
}

export interface TrackerStep {
  started?: { startMs: number; zones: string[] };
  ended?: MotionInterval;
  /**
   * This frame is the new peak of the interval being formed or open. With `ended` in the same step (an
   * interval closed at maxIntervalMs, the next opened at this frame) it is the NEW interval's peak.
   */
  peak?: boolean;
}

export class MotionTracker {
  private readonly minFrames: number;
  private readonly maxIntervalMs: number;
  private isOpen = false;
  private run = 0;
  private startMs = 0;
  private lastActiveMs = 0;
  private peakScore = -1;
  private peakAtMs = 0;
  private zones = new Set<string>();

  constructor(private readonly opts: TrackerOptions) {
    this.minFrames = opts.minFrames ?? 2;
    this.maxIntervalMs = opts.maxIntervalMs ?? 3600_000;
    if (!(Number.isFinite(opts.postRollMs) && opts.postRollMs >= 0)) throw new RangeError('postRollMs must be ≥ 0');
    if (!(Number.isInteger(this.minFrames) && this.minFrames >= 1)) throw new RangeError('minFrames must be an integer ≥ 1');
    if (!(Number.isFinite(this.maxIntervalMs) && this.maxIntervalMs > 0)) throw new RangeError('maxIntervalMs must be > 0');
  }

  get open(): boolean {
    return this.isOpen;
  }

  push(d: Detection): TrackerStep {
    const step: TrackerStep = {};
    if (this.isOpen && !d.active && d.atMs - this.lastActiveMs >= this.opts.postRollMs) {
      step.ended = this.close(this.lastActiveMs);
      return step;
    }
    if (this.isOpen && d.atMs - this.startMs >= this.maxIntervalMs) {
      // Too long for one interval. Motion going on continues at once in the next, which starts at this
      // frame; the closed one ends there too (never past its bound), so the two leave no hole between them.
      if (!d.active) {
        step.ended = this.close(this.lastActiveMs);
        return step;
      }
      step.ended = this.close(Math.min(d.atMs, this.startMs + this.maxIntervalMs));
      // No new run of minFrames needed: this frame opens the next interval below.
      this.begin(d);
      this.run = this.minFrames - 1;
    }
    if (!d.active) {
      // A pause inside an open interval is the post-roll; before it opened, the run is broken.
      if (!this.isOpen) this.run = 0;
      return step;
    }
    if (!this.isOpen && this.run === 0) this.begin(d);
    this.run++;
    this.lastActiveMs = d.atMs;
    for (const z of d.zones) this.zones.add(z);
    if (d.score > this.peakScore) {
      this.peakScore = d.score;
      this.peakAtMs = d.atMs;
      step.peak = true;
    }
    if (!this.isOpen && this.run >= this.minFrames) {
      this.isOpen = true;
      step.started = { startMs: this.startMs, zones: [...this.zones] };
    }
    return step;
  }

  /**
   * Closes the open interval now (detector stopping, stream lost); it ends at its last active frame, as
   * every interval does (`atMs` is when the caller gave up, not when motion was last seen). A run of
   * active frames too short to have started an interval is dropped.
   */
  flush(_atMs: number): MotionInterval | undefined {
    if (!this.isOpen) {
      this.run = 0;
      return undefined;
    }
    return this.close(this.lastActiveMs);
  }

  private begin(d: Detection): void {
    this.startMs = d.atMs;
    this.lastActiveMs = d.atMs;
    this.peakScore = -1;
    this.zones = new Set(d.zones);
  }

  private close(endMs: number): MotionInterval {
    const interval: MotionInterval = {
      startMs: this.startMs,
      endMs,
      peakScore: this.peakScore,
      peakAtMs: this.peakAtMs,
      zones: [...this.zones].sort(),
    };
    this.isOpen = false;
    this.run = 0;
    this.peakScore = -1;
    return interval;
  }
}
