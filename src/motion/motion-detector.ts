/**
 * Motion by background subtraction on a small grey picture (docs/design.md, "Motion"). Per frame:
 * the difference to a running-average background, minus the median difference (a whole picture that
 * brightens or darkens is light, not motion), thresholded by sensitivity, kept only where the picture
 * also moved since the last frame, cleaned of isolated pixels
 * (sensor and encoder noise), counted outside the masks and per zone. The background adapts quickly every
 * frame, so dusk and a parked car fade in and do not trigger for ever.
 */
import type { Detection, Detector, Frame, Polygon, Zone } from './detector.js';
import { rasterizePolygons } from './polygon-mask.js';

export interface MotionSettings {
  /** 1..100; higher = smaller pixel changes count (monotone). */
  sensitivity: number;
  /** 0.01..100: % of the unmasked picture that must change for `active`. */
  minAreaPercent: number;
  /** Excluded from everything. */
  masks: Polygon[];
  /** Named areas; a detection names the zones where motion was. */
  zones: Zone[];
}

/**
 * Adaptation per frame of a background pixel: one still changing since the last frame (something moves
 * over it) and one that has settled (as it was in the last frame). Fast on purpose: the background is
 * the last second or so, and a pixel that settled catches up within a frame or two, so motion ends when
 * things stop moving (an object that stops or leaves leaves no ghost that keeps an interval open) and
 * slow light changes never show at all.
 */
const ALPHA_MOVING = 0.4;
const ALPHA_SETTLED = 0.8;
/** A zone counts as touched with at least this many changed pixels (besides its share of minAreaPercent). */
const ZONE_MIN_PIXELS = 4;

/** Grey levels a pixel must differ from the background by: 46 at sensitivity 1, 26 at 50, 6 at 100. */
export function thresholdFor(sensitivity: number): number {
  return 6 + (100 - sensitivity) * 0.4;
}

function check(settings: MotionSettings): void {
  const { sensitivity, minAreaPercent } = settings;
  if (!(Number.isFinite(sensitivity) && sensitivity >= 1 && sensitivity <= 100)) throw new RangeError('sensitivity must be 1..100');
  if (!(Number.isFinite(minAreaPercent) && minAreaPercent >= 0.01 && minAreaPercent <= 100)) throw new RangeError('min_area_percent must be 0.01..100');
  const names = new Set<string>();
  for (const z of settings.zones) {
    if (names.has(z.name)) throw new RangeError(`zones: "${z.name}" twice`);
    names.add(z.name);
  }
  for (const p of [...settings.masks, ...settings.zones.map((z) => z.polygon)]) {
    if (p.length < 3) throw new RangeError('a polygon needs at least 3 points');
    for (const [x, y] of p) if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) throw new RangeError('polygon points are relative: 0..1');
  }
}

export class MotionDetector implements Detector {
  readonly kind = 'motion';
  private readonly threshold: number;
  private width = 0;
  private height = 0;
  private bg = new Float32Array(0);
  private raw: Uint8Array = new Uint8Array(0);
  private prev: Uint8Array = new Uint8Array(0);
  private excluded: Uint8Array = new Uint8Array(0);
  private zoneMasks: Uint8Array[] = [];
  private zoneArea: number[] = [];
  private zoneHits: number[] = [];
  private unmasked = 0;
  private readonly histogram = new Uint32Array(511);
  private seeded = false;

  constructor(private readonly settings: MotionSettings) {
    check(settings);
    this.threshold = thresholdFor(settings.sensitivity);
  }

  reset(): void {
    this.seeded = false;
  }

  detect(frame: Frame): Detection {
    const { width, height, luma, atMs } = frame;
    if (luma.length !== width * height) throw new RangeError(`a ${width}×${height} frame has ${width * height} bytes, not ${luma.length}`);
    if (width !== this.width || height !== this.height) this.resize(width, height);
    const none: Detection = { atMs, score: 0, active: false, regions: [], zones: [] };
    if (!this.seeded || this.unmasked === 0) {
      for (let i = 0; i < luma.length; i++) this.bg[i] = luma[i]!;
      this.prev.set(luma);
      this.seeded = true;
      return none;
    }
    const n = width * height;
    const bg = this.bg;
    const excluded = this.excluded;
    // Median difference over the unmasked picture: the light, not motion.
    const hist = this.histogram;
    hist.fill(0);
    for (let i = 0; i < n; i++) if (excluded[i] === 0) hist[Math.round(luma[i]! - bg[i]!) + 255]!++;
    let seen = 0;
    let median = 0;
    for (let b = 0; b < hist.length; b++) {
      seen += hist[b]!;
      if (seen * 2 >= this.unmasked) {
        median = b - 255;
        break;
      }
    }
    const raw = this.raw;
    const thr = this.threshold;
    // Changed: away from the background (light discounted) and still moving since the last frame. What
    // differs from the background but no longer moves (an object that stopped or left, a digit of a
    // clock that ticked a frame ago) is not motion, and the background catches up with it.
    const prev = this.prev;
    const settle = thr / 2;
    for (let i = 0; i < n; i++) {
      raw[i] = excluded[i] === 0 && Math.abs(luma[i]! - bg[i]! - median) > thr && Math.abs(luma[i]! - prev[i]!) > settle ? 1 : 0;
    }
    // A changed pixel counts when at least two of its four neighbours changed too (noise is isolated).
    let changed = 0;
    let minX = width;
    let minY = height;
    let maxX = -1;
    let maxY = -1;
    const hits = this.zoneHits;
    hits.fill(0);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        let counted = false;
        if (raw[i] === 1) {
          const around = (x > 0 ? raw[i - 1]! : 0) + (x < width - 1 ? raw[i + 1]! : 0) + (y > 0 ? raw[i - width]! : 0) + (y < height - 1 ? raw[i + width]! : 0);
          counted = around >= 2;
        }
        const value = luma[i]!;
        if (counted) {
          changed++;
          if (x < minX) minX = x;
          if (x > maxX) maxX = x;
          if (y < minY) minY = y;
          if (y > maxY) maxY = y;
          for (let z = 0; z < hits.length; z++) if (this.zoneMasks[z]![i] === 1) hits[z]!++;
        }
        const settled = Math.abs(value - prev[i]!) <= settle;
        bg[i] = bg[i]! + (settled ? ALPHA_SETTLED : ALPHA_MOVING) * (value - bg[i]!);
        prev[i] = value;
      }
    }
    const score = (changed / this.unmasked) * 100;
    if (changed === 0) return none;
    const zones: string[] = [];
    this.settings.zones.forEach((z, k) => {
      const need = Math.max(ZONE_MIN_PIXELS, (this.settings.minAreaPercent / 100) * this.zoneArea[k]!);
      if (this.zoneArea[k]! > 0 && hits[k]! >= need) zones.push(z.name);
    });
    const active = score >= this.settings.minAreaPercent;
    return {
      atMs,
      score,
      active,
      regions: [{ label: 'motion', score, box: { x: minX / width, y: minY / height, w: (maxX - minX + 1) / width, h: (maxY - minY + 1) / height }, zones }],
      zones,
    };
  }

  private resize(width: number, height: number): void {
    this.width = width;
    this.height = height;
    const n = width * height;
    this.bg = new Float32Array(n);
    this.raw = new Uint8Array(n);
    this.prev = new Uint8Array(n);
    this.excluded = rasterizePolygons(this.settings.masks, width, height);
    this.unmasked = n - this.excluded.reduce((a, b) => a + b, 0);
    this.zoneMasks = this.settings.zones.map((z) => {
      const m = rasterizePolygons([z.polygon], width, height);
      for (let i = 0; i < n; i++) if (this.excluded[i] === 1) m[i] = 0;
      return m;
    });
    this.zoneArea = this.zoneMasks.map((m) => m.reduce((a, b) => a + b, 0));
    this.zoneHits = this.settings.zones.map(() => 0);
    this.seeded = false;
  }
}
