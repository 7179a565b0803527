import type { FragmentInfo } from './scan.js';

/**
 * How far after its first frame's instant a file's media time 0 lies, in ms: one frame interval (the
 * file's usual sample duration) when its first sample lasts no more than a couple of milliseconds,
 * else 0. ffmpeg's RTSP reader gives a connection's first frame no time of its own and stamps it a
 * tick before the second, so in a file that starts a connection (an edge refill) media time 0 is the
 * second frame's instant (time truth, docs/design.md).
 */
export function leadInMs(file: { fragments: ReadonlyArray<Pick<FragmentInfo, 'sampleDurationsSeconds'>> }): number {
  const durations = file.fragments[0]?.sampleDurationsSeconds ?? [];
  const first = durations[0];
  if (first === undefined || durations.length < 3 || first > 0.002) return 0;
  const rest = durations.slice(1).sort((a, b) => a - b);
  const usual = rest[Math.floor(rest.length / 2)] as number;
  return Math.round((usual - first) * 1000);
}
