import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { onLines } from './ffmpeg-process.js';

describe('lines of an ffmpeg pipe', () => {
  it('come whole whatever the chunks: split mid-line, several per chunk, CRLF, a UTF-8 character cut in two, no final newline', async () => {
    const pipe = new PassThrough();
    const lines: string[] = [];
    onLines(pipe, (l) => lines.push(l));
    const name = Buffer.from('"caméra,1.mp4",0.000,10.000\n');
    const cut = name.indexOf(0xc3) + 1; // inside the two bytes of é
    for (const chunk of [Buffer.from('frame=1'), Buffer.from('5\nout_time_us=1000000\r\nprogress=continue\n\n'), name.subarray(0, cut), name.subarray(cut), Buffer.from('progress=end')]) {
      pipe.write(chunk);
      await new Promise((r) => setImmediate(r));
    }
    pipe.end();
    await once(pipe, 'end');
    expect(lines).toEqual(['frame=15', 'out_time_us=1000000', 'progress=continue', '', '"caméra,1.mp4",0.000,10.000', 'progress=end']);
  });
});
