import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestVigil } from './harness.js';

const run = promisify(execFile);

/** Frames ffmpeg decodes from an init segment followed by fragments, written to a file. */
export async function decodedFrames(dir: string, name: string, parts: Buffer[]): Promise<{ frames: number; codec: string; width: number }> {
  const file = join(dir, name);
  await writeFile(file, Buffer.concat(parts));
  const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,nb_read_frames', '-of', 'json', file]);
  const s = (JSON.parse(stdout) as { streams: Array<{ codec_name: string; width: number; nb_read_frames: string }> }).streams[0];
  return { frames: Number(s?.nb_read_frames ?? 0), codec: s?.codec_name ?? '', width: s?.width ?? 0 };
}

export async function status(vigil: TestVigil, id: string) {
  return (await (await vigil.api(`/cameras/${id}/status`)).json()) as {
    state: string;
    live_viewers: number;
    live_bitrate_bps: number | null;
    bitrate_bps: number | null;
    live_dropped_fragments: number;
  };
}
