import { spawn } from 'node:child_process';
import jsQRModule from 'jsqr';

/**
 * Reads the timecode the fake camera burns into every frame of a `code` mount (scripts/rtsp-server.py,
 * "Burned-in timecode"): a QR code holding `VTC:<integer ms since the Unix epoch>` — live, the frame's
 * capture instant; from the edge, the replayed span's own instant.
 */
const PAYLOAD = /^VTC:(\d+)$/;

// jsqr is a CommonJS bundle whose typings declare an ES default export: under NodeNext the default
// import is typed as the module object, at run time it is the function itself.
type JsQR = (typeof import('jsqr'))['default'];
const jsQR: JsQR = (jsQRModule as unknown as { default?: JsQR }).default ?? (jsQRModule as unknown as JsQR);

const ffmpegPath = (): string => process.env['FFMPEG_PATH'] ?? 'ffmpeg';

/** The instant shown by an RGBA frame (`width` × `height`, 4 bytes a pixel); undefined when no VTC code decodes. */
export function decodeTimecode(rgba: Uint8ClampedArray | Buffer, width: number, height: number): number | undefined {
  const data = rgba instanceof Uint8ClampedArray ? rgba : new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  if (data.length < width * height * 4) throw new Error(`decodeTimecode: ${data.length} bytes for ${width}x${height} RGBA`);
  // The camera draws black on white: no need for jsQR's inverted second pass (it doubles the time).
  const m = PAYLOAD.exec(jsQR(data, width, height, { inversionAttempts: 'dontInvert' })?.data ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * Splits ffmpeg's `-f image2pipe -c:v pam -pix_fmt rgba` output (each frame a PAM header giving its
 * size, then its RGBA bytes) into frames as they arrive: `onFrame` runs for each complete frame.
 */
class PamSplitter {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (rgba: Buffer, width: number, height: number) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const end = this.buf.indexOf('ENDHDR\n');
      if (end < 0) {
        if (this.buf.length > 4096) throw new Error('not a PAM stream (no ENDHDR in 4 KiB)');
        return;
      }
      const header = this.buf.subarray(0, end).toString('latin1');
      const field = (k: string) => Number(new RegExp(`(?:^|\\n)${k} (\\d+)`).exec(header)?.[1]);
      const width = field('WIDTH');
      const height = field('HEIGHT');
      const depth = field('DEPTH');
      if (!header.startsWith('P7') || !(width > 0) || !(height > 0) || depth !== 4) throw new Error(`unexpected PAM header ${JSON.stringify(header)}`);
      const start = end + 'ENDHDR\n'.length;
      const size = width * height * 4;
      if (this.buf.length < start + size) return;
      const rgba = this.buf.subarray(start, start + size);
      this.buf = this.buf.subarray(start + size);
      this.onFrame(rgba, width, height);
    }
  }

  /** Bytes left over (a truncated last frame). */
  get pending(): number {
    return this.buf.length;
  }
}

/**
 * Runs ffmpeg (`input` on stdin when a Buffer), handing stdout chunks to `onStdout`; resolves with stderr
 * on exit 0. Rejects on any other exit, on an `onStdout` error (ffmpeg is then killed), or after
 * `timeoutMs` (SIGKILL).
 */
function runFfmpeg(args: string[], input: Buffer | undefined, onStdout: (chunk: Buffer) => void, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpegPath(), args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const err: Buffer[] = [];
    let failure: Error | undefined;
    const fail = (e: Error) => {
      failure ??= e;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => fail(new Error(`ffmpeg still running after ${timeoutMs} ms`)), timeoutMs);
    child.stdout!.on('data', (c: Buffer) => {
      if (failure) return;
      try {
        onStdout(c);
      } catch (e) {
        fail(e instanceof Error ? e : new Error(String(e)));
      }
    });
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => fail(e));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      if (failure) reject(new Error(`ffmpeg ${args.join(' ')}: ${failure.message}`));
      else if (code === 0) resolve(stderr);
      else reject(new Error(`ffmpeg ${args.join(' ')} ended with ${code ?? signal}: ${stderr.slice(-800)}`));
    });
    if (input && child.stdin) {
      child.stdin.on('error', () => undefined); // ffmpeg may stop reading early (-frames:v)
      child.stdin.end(input);
    }
  });
}

/** The instant shown by an image ffmpeg reads (a snapshot's JPEG, a PNG); undefined when it carries no readable code. */
export async function imageTimecode(image: Buffer, opts: { timeoutMs?: number } = {}): Promise<number | undefined> {
  let ms: number | undefined;
  let frames = 0;
  const pam = new PamSplitter((rgba, w, h) => {
    if (frames++ === 0) ms = decodeTimecode(rgba, w, h);
  });
  await runFfmpeg(
    ['-hide_banner', '-loglevel', 'error', '-f', 'image2pipe', '-i', 'pipe:0', '-frames:v', '1', '-f', 'image2pipe', '-c:v', 'pam', '-pix_fmt', 'rgba', 'pipe:1'],
    image,
    (c) => pam.push(c),
    opts.timeoutMs ?? 20_000,
  );
  if (frames === 0) throw new Error(`ffmpeg decoded no picture from the ${image.length}-byte image`);
  return ms;
}

/**
 * Every frame of an MP4 (a path, or its bytes fed on stdin; fragmented files too, whatever their first
 * fragment's decode time) in presentation order: its presentation time on the file's own timeline as
 * ffmpeg presents it (`pts_time` of the showinfo filter with -copyts: edit lists applied, not shifted
 * to start at 0 — ffprobe -show_frames gives the same) and the instant burned into it (undefined when
 * the code does not decode). Frames are decoded as they stream out of ffmpeg, never all held.
 */
export async function fileTimecodes(
  input: string | Buffer,
  opts: { maxFrames?: number; timeoutMs?: number } = {},
): Promise<Array<{ ptsSeconds: number; ms: number | undefined }>> {
  const codes: Array<number | undefined> = [];
  const pam = new PamSplitter((rgba, w, h) => codes.push(decodeTimecode(rgba, w, h)));
  const stderr = await runFfmpeg(
    [
      '-hide_banner', '-loglevel', 'info', '-nostats',
      '-i', typeof input === 'string' ? input : 'pipe:0',
      '-copyts', '-map', '0:v:0',
      ...(opts.maxFrames !== undefined ? ['-frames:v', String(opts.maxFrames)] : []),
      // One output frame per decoded frame, none duplicated or dropped to fit a frame rate.
      '-vf', 'showinfo', '-fps_mode', 'passthrough',
      '-f', 'image2pipe', '-c:v', 'pam', '-pix_fmt', 'rgba', 'pipe:1',
    ],
    typeof input === 'string' ? undefined : input,
    (c) => pam.push(c),
    opts.timeoutMs ?? 120_000,
  );
  if (pam.pending > 0) throw new Error(`ffmpeg's output ended inside a frame (${pam.pending} bytes left)`);
  const pts = [...stderr.matchAll(/\] n:\s*\d+ pts:\s*-?\d+ pts_time:(-?[\d.e+-]+)/g)].map((m) => Number(m[1]));
  if (pts.length !== codes.length) throw new Error(`ffmpeg gave ${codes.length} frames but ${pts.length} showinfo lines`);
  return codes.map((ms, i) => ({ ptsSeconds: pts[i] as number, ms }));
}
