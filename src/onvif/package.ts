import type onvif from 'onvif';

/**
 * The onvif package (and the XML parser and builder it brings), loaded at its first use: ~0.4 MB of
 * code that a start-up, and a box whose cameras have no `onvif_url`, never runs.
 */
let loaded: Promise<typeof onvif> | undefined;

export function onvifPackage(): Promise<typeof onvif> {
  loaded ??= import('onvif').then((m) => m.default);
  return loaded;
}
