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
}
