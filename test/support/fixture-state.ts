import { connect } from 'node:net';
import type { RtspServer } from '../../src/demo/rtsp-server.js';

/** Whether something accepts a TCP connection on 127.0.0.1:`port` within `timeoutMs`. */
export function portAccepts(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * What the fake camera server is doing, for a test that timed out waiting on footage: a server that
 * has exited or no longer accepts connections is the fixture's failure, not Vigil's. Undefined when
 * it runs and accepts; else one line that starts with "fixture failure", then the server's stderr tail.
 */
export async function fakeCameraFailure(server: Pick<RtspServer, 'exited' | 'exitCode' | 'exitSignal' | 'pid' | 'port' | 'stderrTail'>): Promise<string | undefined> {
  let what: string | undefined;
  if (server.exited) what = `the fake camera server exited (code ${server.exitCode ?? 'null'}, signal ${server.exitSignal ?? 'null'})`;
  else if (!(await portAccepts(server.port))) what = `the fake camera server (pid ${server.pid}) runs but refuses connections on port ${server.port}`;
  if (!what) return undefined;
  return `fixture failure, not Vigil's: ${what}\nits stderr tail:\n${server.stderrTail().slice(-2000)}`;
}
