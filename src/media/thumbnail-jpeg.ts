import type { Readable, Writable } from 'node:stream';
import { spawnSupervised } from './child.js';
import { buildThumbnailArgs } from './motion-args.js';

const TIMEOUT_MS = 10_000;

/** A raw yuv420p picture encoded to JPEG by a one-shot ffmpeg; null when it failed (the caller keeps the interval without a thumbnail). */
export type ThumbnailEncoder = (yuv: Uint8Array, width: number, height: number) => Promise<Buffer | null>;

export function ffmpegThumbnailEncoder(ffmpegPath: string, counted: <P extends { readonly exited: Promise<unknown> }>(launch: () => P) => P = (l) => l()): ThumbnailEncoder {
  return async (yuv, width, height) => {
    const proc = counted(() => spawnSupervised(ffmpegPath, buildThumbnailArgs(width, height), ['pipe', 'pipe', 'pipe']));
    const chunks: Buffer[] = [];
    (proc.child.stdout as Readable).on('data', (c: Buffer) => chunks.push(c));
    const stdin = proc.child.stdin as Writable;
    stdin.on('error', () => undefined);
    stdin.end(Buffer.from(yuv.buffer, yuv.byteOffset, yuv.byteLength));
    const timer = setTimeout(() => proc.signal('SIGKILL'), TIMEOUT_MS);
    const exit = await proc.exited;
    clearTimeout(timer);
    const jpeg = Buffer.concat(chunks);
    return exit.code === 0 && jpeg.length > 2 && jpeg[0] === 0xff && jpeg[1] === 0xd8 ? jpeg : null;
  };
}
