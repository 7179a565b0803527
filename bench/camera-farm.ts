/**
 * Fake cameras for capacity runs: one shared GStreamer mount (encoded once, sent to every client) per
 * server process, cameras spread over several processes, and per process a keeper client that holds
 * the shared media prepared (playing) before the join storm, so that no camera's PLAY is the one that
 * prepares it. Joins never seek (`seek: false`): each PLAY joins the running stream, as on a real camera,
 * instead of restarting the encoder and setting back every attached client's timestamps.
 *
 * A server that dies is the fixture's failure, not Vigil's: `dead()` names it, and the benches report it
 * as such instead of counting the gaps it causes against Vigil.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { RtspServer, type RtspMountSpec } from '../src/demo/rtsp-server.js';
import { sleep, waitUntil } from './proc.js';

export interface FarmOptions {
  mount: RtspMountSpec;
  /** Server processes the cameras are spread over. */
  servers: number;
}

export class CameraFarm {
  private constructor(
    readonly mount: RtspMountSpec,
    private readonly servers: RtspServer[],
    private readonly keepers: ChildProcess[],
  ) {}

  static async start(o: FarmOptions): Promise<CameraFarm> {
    const mount = { ...o.mount, shared: true, seek: false };
    const servers: RtspServer[] = [];
    const keepers: ChildProcess[] = [];
    try {
      for (let i = 0; i < o.servers; i++) servers.push(await RtspServer.start({ mounts: [mount] }));
      for (const s of servers) {
        // A client that stays: the shared media is prepared and playing before any camera joins.
        const keeper = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', s.url(mount.name), '-map', '0:v:0', '-c', 'copy', '-f', 'null', '-'], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        keeper.stderr?.resume();
        keepers.push(keeper);
        await s.waitForFirstRtp(mount.name, { timeoutMs: 15_000 });
      }
      // Let every keeper settle into its stream.
      await sleep(1000);
      return new CameraFarm(mount, servers, keepers);
    } catch (err) {
      for (const k of keepers) k.kill('SIGKILL');
      await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
      throw err;
    }
  }

  /** Camera `i`'s URL: cameras are dealt over the servers in turn. */
  url(i: number): string {
    const s = this.servers[i % this.servers.length] as RtspServer;
    return s.url(this.mount.name);
  }

  /** The server processes' pids (their CPU is the fake cameras', reported apart from Vigil's). */
  pids(): number[] {
    return [...this.servers.map((s) => s.pid), ...this.keepers.flatMap((k) => (k.pid === undefined ? [] : [k.pid]))];
  }

  /** What failed in the fixture itself (a server or a keeper gone), or '' when it is whole. */
  dead(): string {
    const servers = this.servers.flatMap((s, i) => (s.exited ? [`fake camera server ${i + 1}/${this.servers.length} died (${s.exitSignal ?? s.exitCode}): ${s.stderrTail().split('\n').slice(-2).join(' ').slice(0, 160)}`] : []));
    const keepers = this.keepers.flatMap((k, i) => (k.exitCode !== null || k.signalCode !== null ? [`keeper client of server ${i + 1} ended (${k.signalCode ?? k.exitCode})`] : []));
    return [...servers, ...keepers].join('; ');
  }

  async stop(): Promise<void> {
    for (const k of this.keepers) k.kill('SIGTERM');
    await waitUntil('keepers gone', () => this.keepers.every((k) => k.exitCode !== null || k.signalCode !== null), 5000, 50).catch(() => {
      for (const k of this.keepers) k.kill('SIGKILL');
    });
    await Promise.all(this.servers.map((s) => s.stop()));
  }
}

/** Servers for `cameras` cameras: at most `perServer` clients on one server process. */
export function serversFor(cameras: number, perServer = 16): number {
  return Math.max(1, Math.ceil(cameras / perServer));
}
