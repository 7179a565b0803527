import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { fakeCameraFailure, portAccepts } from './fixture-state.js';
import { freePort } from './mosquitto.js';

/** A port nothing listens on: one a listener had, closed again. */
const closedPort = freePort;

describe('the fake camera fixture, read when footage did not come', () => {
  it('tells a port that accepts from one that refuses', async () => {
    const srv = createServer((s) => s.destroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      expect(await portAccepts((srv.address() as { port: number }).port)).toBe(true);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
    expect(await portAccepts(await closedPort())).toBe(false);
  });

  it('says nothing of a running server, names an exited one as the fixture failure with its stderr', async () => {
    const server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    try {
      expect(await fakeCameraFailure(server)).toBeUndefined();
    } finally {
      await server.stop();
    }
    const failure = await fakeCameraFailure(server);
    expect(failure).toMatch(/^fixture failure, not Vigil's: the fake camera server exited \(code 0, signal null\)/);
  }, 60_000);

  it('names a server that runs but refuses connections (what CI saw) as the fixture failure', async () => {
    const port = await closedPort();
    const failure = await fakeCameraFailure({ exited: false, exitCode: null, exitSignal: null, pid: 4242, port, stderrTail: () => 'GStreamer-CRITICAL: something\n' });
    expect(failure).toContain(`runs but refuses connections on port ${port}`);
    expect(failure).toContain('GStreamer-CRITICAL: something');
  });
});
