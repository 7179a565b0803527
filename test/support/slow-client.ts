/**
 * A plain Node HTTP server that sends each request a body by `pipe` (as Fastify sends a stream), and a
 * client slow to take it: the server's writes pile up in full sockets again and again, so a chunk
 * whose memory is reused before its write has called back shows as wrong bytes.
 */
import { once } from 'node:events';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';

export async function servePiped<T extends Readable>(make: () => T, contentLength?: number): Promise<{ url: string; server: Server; bodies: T[] }> {
  const bodies: T[] = [];
  const server = createServer((_req, res) => {
    const body = make();
    bodies.push(body);
    if (contentLength !== undefined) res.setHeader('content-length', String(contentLength));
    body.on('error', () => res.destroy());
    body.pipe(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server, bodies };
}

/** GET `url`, taking nothing for `waitMs` first, then with a pause of `waitMs` / 10 after each MiB. */
export async function slowDownload(url: string, waitMs: number): Promise<{ bytes: Buffer; complete: boolean }> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => get(url, resolve).once('error', reject));
  res.pause();
  await new Promise((r) => setTimeout(r, waitMs));
  const chunks: Buffer[] = [];
  let sincePause = 0;
  res.on('data', (c: Buffer) => {
    chunks.push(c);
    sincePause += c.length;
    if (sincePause < 1024 * 1024 || waitMs === 0) return;
    sincePause = 0;
    res.pause();
    setTimeout(() => res.resume(), waitMs / 10);
  });
  res.resume();
  await new Promise((resolve) => res.once('close', resolve));
  return { bytes: Buffer.concat(chunks), complete: res.complete };
}
