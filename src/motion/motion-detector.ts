/**
 * Motion by background subtraction on a small grey picture (docs/design.md, "Motion"). Per frame:
 * the difference to a running-average background, minus the median difference (a whole picture that
 * brightens or darkens is light, not motion), thresholded by sensitivity, kept only where the picture
 * also moved since the last frame, cleaned of isolated pixels (sensor and encoder noise), counted
 * outside the masks and per zone. The background adapts quickly every frame, so dusk and a parked car
 * fade in and do not trigger for ever.
 *
 * It runs per camera at a few frames a second, so every buffer is made once per picture size and
 * reused: a frame costs a few passes over the pixels and the small result object, nothing else.
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
/** Differences to the background run from −255 to +255: one histogram bin per grey level. */
const DIFF_OFFSET = 255;

/** Grey levels a pixel must differ from the background by: 45.6 at sensitivity 1, 26 at 50, 6 at 100. */
export function thresholdFor(sensitivity: number): number {
  return 6 + (100 - sensitivity) * 0.4;
}

function checkPolygon(poly: Polygon, field: string): void {
  if (!Array.isArray(poly) || poly.length < 3) throw new RangeError(`${field}: a polygon needs at least 3 points`);
  poly.forEach(([x, y], k) => {
    if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) throw new RangeError(`${field}[${k}]: points are relative, x and y 0..1`);
  });
}

/** Throws a RangeError naming the first bad field (the API and config validate too; this guards other callers). */
export function checkMotionSettings(settings: MotionSettings): void {
  const { sensitivity, minAreaPercent } = settings;
  if (!(Number.isFinite(sensitivity) && sensitivity >= 1 && sensitivity <= 100)) throw new RangeError('sensitivity must be 1..100');
  if (!(Number.isFinite(minAreaPercent) && minAreaPercent >= 0.01 && minAreaPercent <= 100)) throw new RangeError('minAreaPercent must be 0.01..100');
  if (!Array.isArray(settings.masks)) throw new RangeError('masks must be a list of polygons');
  if (!Array.isArray(settings.zones)) throw new RangeError('zones must be a list of named polygons');
  settings.masks.forEach((p, i) => checkPolygon(p, `masks[${i}]`));
  const names = new Set<string>();
  settings.zones.forEach((z, i) => {
    if (typeof z.name !== 'string' || z.name.length === 0) throw new RangeError(`zones[${i}].name must be a non-empty string`);
    if (names.has(z.name)) throw new RangeError(`zones[${i}].name: "${z.name}" is used twice`);
    names.add(z.name);
    checkPolygon(z.polygon, `zones[${i}].polygon`);
  });
}

export class MotionDetector implements Detector {
  readonly kind = 'motion';
  private readonly threshold: number;
  private width = 0;
  private height = 0;
  /** Running-average background, per pixel. */
  private bg = new Float32Array(0);
  /** The last frame: what still moves differs from it. */
  private prev: Uint8Array = new Uint8Array(0);
  /** Frame − background per unmasked pixel (this frame's, before light compensation). */
  private diff = new Float64Array(0);
  /** 1 where a pixel changed, before the noise filter. */
  private raw: Uint8Array = new Uint8Array(0);
  /** 1 inside a mask. */
  private excluded: Uint8Array = new Uint8Array(0);
  private zoneMasks: Uint8Array[] = [];
  private zoneArea = new Float64Array(0);
  private zoneHits = new Uint32Array(0);
  private unmasked = 0;
  private readonly histogram = new Uint32Array(2 * DIFF_OFFSET + 1);
  private seeded = false;

  constructor(private readonly settings: MotionSettings) {
    checkMotionSettings(settings);
    this.threshold = thresholdFor(settings.sensitivity);
  }

  reset(): void {
    this.seeded = false;
  }

  detect(frame: Frame): Detection {
    const { width, height, luma, atMs } = frame;
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new RangeError(`a frame is at least 1×1 pixels, not ${width}×${height}`);
    if (luma.length !== width * height) throw new RangeError(`a ${width}×${height} frame has ${width * height} bytes, not ${luma.length}`);
    if (width !== this.width || height !== this.height) this.resize(width, height);
    if (!this.seeded || this.unmasked === 0) {
      this.seed(luma);
      return { atMs, score: 0, active: false, regions: [], zones: [] };
    }
    const n = width * height;
    const { bg, prev, diff, raw, excluded } = this;
    const thr = this.threshold;
    const settle = thr / 2;

    // Median difference over the unmasked picture: the light, not motion.
    const hist = this.histogram;
    hist.fill(0);
    for (let i = 0; i < n; i++) {
      if (excluded[i] !== 0) continue;
      const d = luma[i]! - bg[i]!;
      diff[i] = d;
      // Math.round(d) + DIFF_OFFSET, as an int32 (a double index is several times slower here).
      hist[(d + (DIFF_OFFSET + 0.5)) | 0]!++;
    }
    let seen = 0;
    let median = 0;
    for (let b = 0; b < hist.length; b++) {
      seen += hist[b]!;
      if (seen * 2 >= this.unmasked) {
        median = b - DIFF_OFFSET;
        break;
      }
    }

    // Changed: away from the background (light discounted) and still moving since the last frame. What
    // differs from the background but no longer moves (an object that stopped or left, a digit of a
    // clock that ticked a frame ago) is not motion, and the background catches up with it.
    for (let i = 0; i < n; i++) {
      raw[i] = excluded[i] === 0 && Math.abs(diff[i]! - median) > thr && Math.abs(luma[i]! - prev[i]!) > settle ? 1 : 0;
    }

    // A changed pixel counts when at least two of its four neighbours changed too (noise is isolated).
    // The same pass adapts the background and keeps this frame as the last one.
    let changed = 0;
    let minX = width;
    let minY = height;
    let maxX = -1;
    let maxY = -1;
    const zoneMasks = this.zoneMasks;
    const hits = this.zoneHits;
    hits.fill(0);
    for (let y = 0, i = 0; y < height; y++) {
      for (let x = 0; x < width; x++, i++) {
        const value = luma[i]!;
        if (raw[i] === 1) {
          const around = (x > 0 ? raw[i - 1]! : 0) + (x < width - 1 ? raw[i + 1]! : 0) + (y > 0 ? raw[i - width]! : 0) + (y < height - 1 ? raw[i + width]! : 0);
          if (around >= 2) {
            changed++;
            if (x < minX) minX = x;
            if (x > maxX) maxX = x;
            if (y < minY) minY = y;
            if (y > maxY) maxY = y;
            for (let z = 0; z < zoneMasks.length; z++) if (zoneMasks[z]![i] === 1) hits[z]!++;
          }
        }
        const alpha = Math.abs(value - prev[i]!) <= settle ? ALPHA_SETTLED : ALPHA_MOVING;
        bg[i] = bg[i]! + alpha * (value - bg[i]!);
        prev[i] = value;
      }
    }
    if (changed === 0) return { atMs, score: 0, active: false, regions: [], zones: [] };
    const score = (changed / this.unmasked) * 100;
    const zones: string[] = [];
    for (let z = 0; z < zoneMasks.length; z++) {
      const area = this.zoneArea[z]!;
      if (area > 0 && hits[z]! >= Math.max(ZONE_MIN_PIXELS, (this.settings.minAreaPercent / 100) * area)) zones.push(this.settings.zones[z]!.name);
    }
    return {
      atMs,
      score,
      active: score >= this.settings.minAreaPercent,
      regions: [{ label: 'motion', score, box: { x: minX / width, y: minY / height, w: (maxX - minX + 1) / width, h: (maxY - minY + 1) / height }, zones }],
      zones,
    };
  }

  /** The first frame (after a start, reset() or a new picture size) is the background: nothing to compare yet. */
  private seed(luma: Uint8Array): void {
    this.bg.set(luma);
    this.prev.set(luma);
    this.seeded = true;
  }

  private resize(width: number, height: number): void {
    this.width = width;
    this.height = height;
    const n = width * height;
    this.bg = new Float32Array(n);
    this.prev = new Uint8Array(n);
    this.diff = new Float64Array(n);
    this.raw = new Uint8Array(n);
    this.excluded = rasterizePolygons(this.settings.masks, width, height);
    let masked = 0;
    for (let i = 0; i < n; i++) masked += this.excluded[i]!;
    this.unmasked = n - masked;
    // A zone is what of it lies outside every mask.
    this.zoneMasks = this.settings.zones.map((z) => {
      const m = rasterizePolygons([z.polygon], width, height);
      for (let i = 0; i < n; i++) if (this.excluded[i] === 1) m[i] = 0;
      return m;
    });
    this.zoneArea = Float64Array.from(this.zoneMasks, (m) => m.reduce((a, b) => a + b, 0));
    this.zoneHits = new Uint32Array(this.zoneMasks.length);
    this.seeded = false;
  }
}
