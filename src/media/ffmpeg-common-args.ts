/** argv pieces every Vigil ffmpeg shares (built without a shell, one element per argument). */

/** No banner, no stdin, no stats line; warnings and errors on stderr, each with its level. */
export const QUIET_ARGS: readonly string[] = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'level+warning'];

/** Input options and the input of a camera stream: RTSP over TCP, a socket timeout, the URL as one element. */
export function rtspInputArgs(url: string, socketTimeoutSeconds: number): string[] {
  return ['-rtsp_transport', 'tcp', '-timeout', String(Math.round(socketTimeoutSeconds * 1_000_000)), '-i', url];
}
