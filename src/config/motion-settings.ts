import type { MotionInput } from './camera.schema.js';
import { MOTION_DEFAULTS, type MotionConfig, type MotionPolygon } from '../shared/camera-settings.js';
import { invalidArgument } from '../shared/errors.js';

/** A polygon smaller than this share of the picture encloses nothing a 160×90 picture can show. */
const MIN_POLYGON_AREA = 1 / (160 * 90);

/** Motion settings from the config file or an API body, on top of `base` (the defaults, or the camera's current ones). */
export function motionFromInput(input: MotionInput | undefined, base: MotionConfig = MOTION_DEFAULTS): MotionConfig {
  if (!input) return base;
  return {
    enabled: input.enabled ?? base.enabled,
    sensitivity: input.sensitivity ?? base.sensitivity,
    minAreaPercent: input.min_area_percent ?? base.minAreaPercent,
    fps: input.fps ?? base.fps,
    masks: input.masks ?? base.masks,
    zones: input.zones ?? base.zones,
    postRollSeconds: input.post_roll_seconds ?? base.postRollSeconds,
  };
}

/** Shoelace area of a polygon in picture units (1 = the whole picture); self-crossing shapes count their net area. */
export function polygonArea(p: MotionPolygon): number {
  let twice = 0;
  for (let i = 0; i < p.length; i++) {
    const [x1, y1] = p[i]!;
    const [x2, y2] = p[(i + 1) % p.length]!;
    twice += x1 * y2 - x2 * y1;
  }
  return Math.abs(twice) / 2;
}

/**
 * What the schema cannot say about motion settings and motion retention: zone names unique, every
 * polygon enclosing some area, `retention_hours_motion` only beside a `retention_hours` it does not
 * undercut. Throws `invalid_argument` naming the field as the client wrote it.
 */
export function checkMotionSettings(m: MotionConfig, retentionHours: number | null, retentionHoursMotion: number | null): void {
  m.masks.forEach((poly, i) => {
    if (polygonArea(poly) < MIN_POLYGON_AREA) throw invalidArgument('encloses no area (its points lie on a line or on top of each other)', `motion.masks[${i}]`);
  });
  const names = new Set<string>();
  m.zones.forEach((z, i) => {
    if (polygonArea(z.polygon) < MIN_POLYGON_AREA) throw invalidArgument('encloses no area (its points lie on a line or on top of each other)', `motion.zones[${i}].polygon`);
    if (names.has(z.name)) throw invalidArgument(`zone name "${z.name}" is used twice`, `motion.zones[${i}].name`);
    names.add(z.name);
  });
  if (retentionHoursMotion !== null) {
    if (retentionHours === null) {
      throw invalidArgument('needs retention_hours (how long footage without motion is kept); with none, all footage is kept', 'retention_hours_motion');
    }
    if (retentionHoursMotion < retentionHours) {
      throw invalidArgument(`must be at least retention_hours (${retentionHours}): footage with motion is kept longer than footage without`, 'retention_hours_motion');
    }
  }
}
