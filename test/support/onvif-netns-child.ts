/**
 * Runs inside a test's network namespace (test/support/netns.ts), started with
 * `ip netns exec <ns> node --import tsx test/support/onvif-netns-child.ts <mode> <json>`:
 *
 * - `discover {timeoutMs, answers}`: fake ONVIF devices and a WS-Discovery responder announcing them,
 *   then Vigil's `discover()`; prints `{found, xaddrs, probes}` and exits.
 * - `serve {socketPath, clockOffsetMs}`: a fake device with its responder and a whole Vigil, reachable
 *   through the Unix socket `socketPath`; prints `{xaddr, admin}` once ready, stops when stdin closes.
 */
import { rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { discover } from '../../src/onvif/discovery.js';
import { startDiscoveryResponder, startOnvifFake, type DiscoveryAnswer } from './onvif-fake.js';

const [mode, json] = process.argv.slice(2);
const opts = JSON.parse(json ?? '{}') as Record<string, unknown>;

async function discoverMode(): Promise<void> {
  const answers = (opts.answers ?? []) as Array<Omit<DiscoveryAnswer, 'xaddrs'> & { extraXaddrs?: string[] }>;
  const fakes = await Promise.all(answers.map(() => startOnvifFake()));
  const responder = await startDiscoveryResponder(answers.map((a, i) => ({ ...a, xaddrs: [fakes[i]!.xaddr, ...(a.extraXaddrs ?? [])] })));
  try {
    const found = await discover(Number(opts.timeoutMs ?? 1500));
    process.stdout.write(`${JSON.stringify({ found, xaddrs: fakes.map((f) => f.xaddr), probes: responder.probes })}\n`);
  } finally {
    await responder.close();
    for (const f of fakes) await f.close();
  }
}

async function serveMode(): Promise<void> {
  const socketPath = String(opts.socketPath);
  const fake = await startOnvifFake({ clockOffsetMs: Number(opts.clockOffsetMs ?? 0) });
  const responder = await startDiscoveryResponder([{ xaddrs: [fake.xaddr], name: 'Lobby Cam', hardware: 'FK-2040', location: 'lobby' }]);
  // Imported here only: the whole application is slow to load, and discover mode needs none of it.
  const { removeDir, startVigil } = await import('./harness.js');
  const vigil = await startVigil();
  const port = new URL(vigil.app.url).port;
  const server = createServer((client) => {
    const upstream = connect(Number(port), '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
  });
  await rm(socketPath, { force: true });
  await new Promise<void>((res) => server.listen(socketPath, res));
  process.stdout.write(`${JSON.stringify({ xaddr: fake.xaddr, admin: vigil.admin })}\n`);
  process.stdin.resume();
  await new Promise<void>((res) => process.stdin.once('end', res));
  server.close();
  await vigil.app.stop();
  await removeDir(vigil.dataDir);
  await responder.close();
  await fake.close();
  await rm(socketPath, { force: true });
}

if (mode === 'discover') await discoverMode();
else if (mode === 'serve') await serveMode();
else throw new Error(`unknown mode ${String(mode)}`);
process.exit(0);
