/**
 * What a camera is, as every part of Vigil speaks of it: the settings a camera is declared with (in the
 * config file or through the API) and stored with in the catalog. Plain types, no behaviour.
 */

export type AnrPreset = 'hikvision' | 'dahua' | 'generic';

/** A camera's edge replay source (ANR): where to pull a gap's footage from its SD card. */
export interface AnrSettings {
  enabled: boolean;
  /** Written-out template; wins over `preset` when both are set. */
  replayUrlTemplate: string | null;
  /** IANA zone of the camera's clock, for time formats in local time (dahua). */
  timezone: string;
  preset: AnrPreset | null;
}

export const ANR_DISABLED: AnrSettings = Object.freeze({ enabled: false, replayUrlTemplate: null, timezone: 'UTC', preset: null });

/** A point of a mask or zone, relative to the picture: x right, y down, both 0..1. */
export type MotionPoint = [number, number];
export type MotionPolygon = MotionPoint[];

/** A camera's motion detection (docs/design.md, "Motion"). */
export interface MotionConfig {
  enabled: boolean;
  /** 1..100: higher counts smaller changes of a pixel as motion. */
  sensitivity: number;
  /** Share of the unmasked picture (percent) that must change for motion. */
  minAreaPercent: number;
  /** Frames compared per second. */
  fps: number;
  /** Regions never looked at (a burned-in clock, a tree in the wind). */
  masks: MotionPolygon[];
  /** Named regions: an interval lists the zones its motion touched. */
  zones: Array<{ name: string; polygon: MotionPolygon }>;
  /** Motion that stops for less than this joins the next into one interval; also the tail kept after it. */
  postRollSeconds: number;
}

/** Footage this long before motion is kept with it by motion-aware retention (what led up to it). */
export const MOTION_PRE_ROLL_MS = 10_000;

export const MOTION_DEFAULTS: MotionConfig = Object.freeze({
  enabled: false,
  sensitivity: 50,
  minAreaPercent: 0.5,
  fps: 5,
  masks: [],
  zones: [],
  postRollSeconds: 5,
});

export interface CameraConfig {
  id: string;
  name: string;
  mainUrl: string;
  subUrl: string | null;
  segmentSeconds: number;
  retentionHours: number | null;
  storageQuotaBytes: number | null;
  enabled: boolean;
  /** Edge replay settings; absent means ANR is off. */
  anr?: AnrSettings;
  /** ONVIF device service address (its clock is watched); absent or null: none. */
  onvifUrl?: string | null;
  /** Motion detection; absent means off. */
  motion?: MotionConfig;
  /** Footage with motion is kept this long (footage without motion: `retentionHours`); absent or null: no separate rule. */
  retentionHoursMotion?: number | null;
  /** Record the camera's audio (`auto`) or not (`off`); absent means `auto`. */
  audio?: CameraAudio;
}

export type CameraAudio = 'auto' | 'off';
