/** argv pieces every Vigil ffmpeg shares (built without a shell, one element per argument). */

/** No banner, no stdin, no stats line; warnings and errors on stderr, each with its level. */
export const QUIET_ARGS: readonly string[] = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'level+warning'];

/** Input options and the input of a camera stream: RTSP over TCP, a socket timeout, the URL as one element. */
export function rtspInputArgs(url: string, socketTimeoutSeconds: number): string[] {
  return ['-rtsp_transport', 'tcp', '-timeout', String(Math.round(socketTimeoutSeconds * 1_000_000)), '-i', url];
}

/**
 * The video track timescale of every file Vigil records, live segments and edge refills alike: RTP's
 * 90 kHz clock, so each frame keeps the exact time the camera stamped, and footage from both paths
 * joins into one clip (left to ffmpeg, live files got fps × 1024 and edge files 90000).
 */
export const VIDEO_TRACK_TIMESCALE = 90_000;
