/**
 * A throwaway network namespace for tests that multicast (WS-Discovery): only a loopback, multicast on,
 * 224.0.0.0/4 routed to it. Whatever runs inside (`ip netns exec`) cannot reach, or be reached from, any
 * other namespace, so parallel tests never hear each other's probes and nothing leaves the machine.
 * Needs root (or CAP_SYS_ADMIN) and iproute2's `ip`; without them `createNetns` says why, and tests skip.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server } from 'node:net';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface Netns {
  name: string;
  /** Runs `node --import tsx <script> <args>` inside the namespace (cwd: the repository). */
  node(script: string, args: string[]): NetnsChild;
  delete(): Promise<void>;
}

export interface NetnsChild {
  proc: ChildProcess;
  /** The first stdout line that parses as JSON. */
  firstJson<T>(timeoutMs?: number): Promise<T>;
  output(): string;
  /** Closes its stdin (the child's signal to stop) and waits for it to exit. */
  stop(): Promise<number | null>;
}

/** A namespace ready for multicast on its loopback, or the reason none can be made here. */
export async function createNetns(): Promise<Netns | string> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root: `ip netns add` needs root (or CAP_SYS_ADMIN)';
  try {
    await run('ip', ['-V']);
  } catch {
    return '`ip` (iproute2) is not installed';
  }
  const name = `vigil-onvif-${randomBytes(4).toString('hex')}`;
  try {
    await run('ip', ['netns', 'add', name]);
  } catch (err) {
    return `ip netns add failed: ${(err as Error).message.split('\n')[0] ?? ''}`;
  }
  try {
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up', 'multicast', 'on']);
    await run('ip', ['-n', name, 'route', 'add', '224.0.0.0/4', 'dev', 'lo']);
  } catch (err) {
    await run('ip', ['netns', 'delete', name]).catch(() => undefined);
    return `could not set up multicast in the namespace: ${(err as Error).message.split('\n')[0] ?? ''}`;
  }
  const children = new Set<NetnsChild>();
  return {
    name,
    node(script, args) {
      const proc = spawn('ip', ['netns', 'exec', name, process.execPath, '--import', 'tsx', script, ...args], {
        cwd: REPO_ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((res) => proc.once('close', (code) => res(code)));
      const lines = createInterface({ input: proc.stdout! });
      const json = new Promise<unknown>((res, rej) => {
        lines.on('line', (line) => {
          out += `${line}\n`;
          try {
            res(JSON.parse(line));
          } catch {
            /* a log line */
          }
        });
        void exited.then((code) => rej(new Error(`child exited with ${code}:\n${out.slice(-3000)}`)));
      });
      json.catch(() => undefined);
      const child: NetnsChild = {
        proc,
        firstJson: <T>(timeoutMs = 60_000) =>
          Promise.race([
            json as Promise<T>,
            new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`no JSON from the child within ${timeoutMs} ms:\n${out.slice(-3000)}`)), timeoutMs).unref()),
          ]),
        output: () => out,
        async stop() {
          proc.stdin?.end();
          const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
          const code = await exited;
          clearTimeout(timer);
          children.delete(child);
          return code;
        },
      };
      children.add(child);
      return child;
    },
    async delete() {
      for (const c of [...children]) await c.stop();
      await run('ip', ['netns', 'delete', name]).catch(() => undefined);
    },
  };
}

/**
 * A TCP port on this side's loopback that leads to a Unix socket: path-named Unix sockets belong to the
 * file system, not to a network namespace, so this is how a browser outside reaches a server inside.
 */
export async function forwardToUnixSocket(socketPath: string): Promise<{ url: string; close(): Promise<void> }> {
  const open = new Set<{ destroy(): void }>();
  const server: Server = createServer((client) => {
    const upstream = connect(socketPath);
    open.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    // A browser's idle keep-alive connections would hold close() open.
    close: () => new Promise((res) => {
      for (const s of open) s.destroy();
      server.close(() => res());
    }),
  };
}
