import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { VigilError } from '../shared/errors.js';

const run = promisify(execFile);

/** The first line of `ffmpeg -version`; a clear error when ffmpeg cannot be run at all. */
export async function ffmpegVersion(ffmpegPath: string): Promise<string> {
  try {
    const { stdout } = await run(ffmpegPath, ['-hide_banner', '-version'], { timeout: 10_000 });
    return stdout.split('\n')[0] ?? '';
  } catch (err) {
    throw new VigilError(
      'failed_precondition',
      `cannot run ffmpeg at "${ffmpegPath}" (${(err as Error).message.split('\n')[0]}); install it with ` +
        'scripts/install-deps.sh (or apt-get install ffmpeg), or set recorder.ffmpeg_path',
      { field: 'recorder.ffmpeg_path', cause: err },
    );
  }
}
