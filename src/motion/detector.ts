/**
 * The seam between the picture pipeline and what looks at the pictures: a Detector takes one small grey
 * frame and says what it found. Motion detection is the one shipped; an object detector would implement
 * the same interface (its regions labelled "person", "car", …) and plug into MotionWatch unchanged.
 */

/** Relative to the picture: 0..1, x right, y down. */
export type Point = readonly [number, number];
/** At least 3 points. */
export type Polygon = readonly Point[];

export interface Zone {
  name: string;
  polygon: Polygon;
}

export interface Frame {
  width: number;
  height: number;
  /** 8-bit luma, row by row: width × height bytes. */
  luma: Uint8Array;
  /** Wall-clock instant of the picture (UTC ms). */
  atMs: number;
}

export interface Region {
  /** What was found: `motion`, or an object class. */
  label: string;
  /** 0..100. */
  score: number;
  /** Bounding box, relative 0..1. */
  box: { x: number; y: number; w: number; h: number };
  zones: string[];
}

export interface Detection {
  atMs: number;
  /** 0..100: for motion, the % of the unmasked picture that changed. */
  score: number;
  /** Over the detector's threshold. */
  active: boolean;
  regions: Region[];
  /** Zones any region touched. */
  zones: string[];
}

export interface Detector {
  readonly kind: string;
  detect(frame: Frame): Detection;
  /** Forget the past (the stream restarted): the next frame only seeds the detector. */
  reset(): void;
}
