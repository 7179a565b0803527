/**
 * ffmpeg argv for motion detection: a camera stream decoded to a small picture at a low rate, raw
 * planar YUV 4:2:0 on stdout (the luma plane is the grey picture the detector compares; the chroma
 * planes only colour an interval's thumbnail). And the one-shot encode of such a picture to JPEG.
 */
import { QUIET_ARGS, rtspInputArgs } from './ffmpeg-common-args.js';
import { liveOutputArgs } from './live-args.js';

/** The picture the detector compares: 160×90, small enough for ~0.1 ms per frame in Node. */
export const MOTION_WIDTH = 160;
export const MOTION_HEIGHT = 90;

/** Bytes of one yuv420p picture of `width`×`height` (both even). */
export function yuv420pBytes(width: number, height: number): number {
  return width * height + 2 * (width / 2) * (height / 2);
}

export interface MotionArgsInput {
  url: string;
  socketTimeoutSeconds: number;
  fps: number;
  width?: number;
  height?: number;
  /**
   * Also write the stream itself (stream copy, live fMP4) to this file descriptor: the sub-stream's live
   * viewers are fed from the detector's RTSP session instead of opening a second one to the camera.
   */
  liveFd?: number;
}

/** RTSP over TCP → `fps` pictures a second, scaled (area average, which also smooths sensor noise) → raw yuv420p on stdout. */
export function buildMotionArgs(i: MotionArgsInput): string[] {
  const w = i.width ?? MOTION_WIDTH;
  const h = i.height ?? MOTION_HEIGHT;
  return [
    ...QUIET_ARGS,
    // Each picture as soon as it arrives: no input buffering, no frame-threaded decoding (each thread
    // holds a frame back), so a picture's arrival is within ~0.1 s of its capture (frames are stamped then).
    '-fflags', 'nobuffer',
    '-flags', 'low_delay',
    '-threads', '1',
    ...rtspInputArgs(i.url, i.socketTimeoutSeconds),
    '-an', '-sn', '-dn',
    '-map', '0:v:0',
    '-vf', `fps=${i.fps},scale=${w}:${h}:flags=area,format=yuv420p`,
    '-f', 'rawvideo',
    '-pix_fmt', 'yuv420p',
    'pipe:1',
    ...(i.liveFd === undefined ? [] : liveOutputArgs(`pipe:${i.liveFd}`)),
  ];
}

/** One raw yuv420p picture on stdin → one small JPEG on stdout (an interval's thumbnail). */
export function buildThumbnailArgs(width: number, height: number): string[] {
  return [
    ...QUIET_ARGS,
    '-f', 'rawvideo',
    '-pix_fmt', 'yuv420p',
    '-s', `${width}x${height}`,
    '-i', 'pipe:0',
    '-frames:v', '1',
    '-q:v', '4',
    '-f', 'mjpeg',
    'pipe:1',
  ];
}
