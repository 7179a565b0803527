import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { buildRecorderArgs, LIVE_FD, parseSegmentListLine, SEGMENT_LIST_FD } from '../../src/media/recorder-args.js';
import { sleep } from '../../src/shared/sleep.js';
import { removeDir, tempDir } from '../support/harness.js';

describe('the recorder with nobody reading its live pipe', () => {
  it('goes on closing segments on time: the live output can never block the recording', async () => {
    const server = await RtspServer.start({ mounts: [{ name: 'cam1', pattern: 'snow', bitrateKbps: 3000 }] });
    const dir = await tempDir();
    const out = join(dir, 'rec');
    await mkdir(out);
    const args = buildRecorderArgs({ url: server.url('cam1'), outputDir: out, segmentSeconds: 2, socketTimeoutSeconds: 5, fileNamePattern: 'x1-%06d.mp4' });
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
    try {
      (child.stdio[3] as Readable).resume();
      child.stderr?.resume();
      // The live pipe is never read: at ~3 Mbit/s the kernel's pipe buffer is full within a second.
      (child.stdio[LIVE_FD] as Readable).pause();
      const closedAt: number[] = [];
      createInterface({ input: child.stdio[SEGMENT_LIST_FD] as Readable }).on('line', (l) => {
        if (parseSegmentListLine(l)) closedAt.push(Date.now());
      });
      await sleep(14_000);
      // 14 s of 2 s segments, minus connection and the first keyframe: at least 4, and never a 4 s silence.
      expect(closedAt.length).toBeGreaterThanOrEqual(4);
      const gaps = closedAt.slice(1).map((t, i) => t - (closedAt[i] as number));
      expect(Math.max(...gaps)).toBeLessThan(4000);
      // Once read again, the live pipe carries the stream.
      let bytes = 0;
      (child.stdio[LIVE_FD] as Readable).on('data', (d: Buffer) => (bytes += d.length));
      (child.stdio[LIVE_FD] as Readable).resume();
      await sleep(2000);
      expect(bytes).toBeGreaterThan(100_000);
    } finally {
      child.kill('SIGKILL');
      await server.stop();
      await removeDir(dir);
    }
  }, 60_000);
});
