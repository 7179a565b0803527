/**
 * Cuts a byte stream (ffmpeg's raw video on a pipe, arriving in chunks of any size) into pictures of a
 * fixed size. One buffer is reused: each picture handed out is valid only during its callback.
 */
export class FrameSplitter {
  private readonly buf: Uint8Array;
  private filled = 0;

  constructor(readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) throw new RangeError('frameBytes must be a positive integer');
    this.buf = new Uint8Array(frameBytes);
  }

  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(this.frameBytes - this.filled, chunk.length - at);
      if (this.filled === 0 && take === this.frameBytes) {
        // A whole picture inside the chunk: no copy.
        onFrame(chunk.subarray(at, at + take));
      } else {
        this.buf.set(chunk.subarray(at, at + take), this.filled);
        this.filled += take;
        if (this.filled === this.frameBytes) {
          this.filled = 0;
          onFrame(this.buf);
        }
      }
      at += take;
    }
  }
}
