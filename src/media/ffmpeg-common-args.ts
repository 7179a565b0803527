/** argv pieces every Vigil ffmpeg shares (built without a shell, one element per argument). */

/** No banner, no stdin, no stats line; warnings and errors on stderr, each with its level. */
export const QUIET_ARGS: readonly string[] = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'level+warning'];

/**
 * Input options and the input of a camera stream: RTSP over TCP, a socket timeout, the URL as one
 * element. `quickProbe`: start at the first packet instead of analysing the stream first (see
 * QUICK_PROBE_ARGS).
 */
export function rtspInputArgs(url: string, socketTimeoutSeconds: number, quickProbe = false): string[] {
  return ['-rtsp_transport', 'tcp', '-timeout', String(Math.round(socketTimeoutSeconds * 1_000_000)), ...(quickProbe ? QUICK_PROBE_ARGS : []), '-i', url];
}

/**
 * ffmpeg otherwise reads up to 20 frames (5 s at most) to estimate a stream's frame rate before it
 * writes anything: 4 s at 5 fps, output then arriving in one burst that a recorder cannot place on the
 * wall clock until later reports (time truth). A camera whose SDP carries its parameters (H.264's
 * sprop-parameter-sets) needs none of it; one whose SDP lacks them makes ffmpeg fail
 * (QUICK_PROBE_FAILED), and the recorder falls back to the full analysis.
 */
export const QUICK_PROBE_ARGS: readonly string[] = ['-probesize', '32', '-analyzeduration', '100000'];

/** What ffmpeg says when a quick probe could not learn the stream's parameters. */
export const QUICK_PROBE_FAILED = /Could not find codec parameters|unspecified size|dimensions not set/i;

/**
 * The video track timescale of every file Vigil records, live segments and edge refills alike: RTP's
 * 90 kHz clock, so each frame keeps the exact time the camera stamped, and footage from both paths
 * joins into one clip (left to ffmpeg, live files got fps × 1024 and edge files 90000).
 */
export const VIDEO_TRACK_TIMESCALE = 90_000;
