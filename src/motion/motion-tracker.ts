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
  /** The last active frame's instant. */
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
  /** This frame is the new peak of the interval being formed or open. */
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
    if (!(opts.postRollMs >= 0) || this.minFrames < 1 || this.maxIntervalMs <= 0) throw new RangeError('postRollMs ≥ 0, minFrames ≥ 1, maxIntervalMs > 0');
  }

  get open(): boolean {
    return this.isOpen;
  }

  push(d: Detection): TrackerStep {
    const step: TrackerStep = {};
    if (this.isOpen && d.atMs - this.startMs >= this.maxIntervalMs) {
      // Too long for one interval: close it here; an active frame opens the next at once.
      step.ended = this.close(Math.max(this.lastActiveMs, Math.min(d.atMs, this.startMs + this.maxIntervalMs)));
      if (d.active) {
        this.begin(d);
        this.peakScore = d.score;
        this.peakAtMs = d.atMs;
        this.isOpen = true;
        this.run = this.minFrames;
        step.started = { startMs: d.atMs, zones: [...this.zones] };
        step.peak = true;
        return step;
      }
    }
    if (d.active) {
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
    } else if (!this.isOpen) {
      this.run = 0;
    } else if (d.atMs - this.lastActiveMs >= this.opts.postRollMs) {
      step.ended = this.close(this.lastActiveMs);
    }
    return step;
  }

  /** Closes the open interval now (detector stopping, stream lost). */
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
      peakAtMs: Math.min(this.peakAtMs, endMs),
      zones: [...this.zones].sort(),
    };
    this.isOpen = false;
    this.run = 0;
    this.peakScore = -1;
    return interval;
  }
}
