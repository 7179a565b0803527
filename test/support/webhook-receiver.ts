import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got: its headers, its raw body and when it arrived. */
export interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
  arrivedMs: number;
  /** What the receiver answered (0: it never answered, a hang). */
  answered: number;
}

/**
 * What to do with a request: answer with a status, or `hang` (never answer, so the sender times out).
 * Decided per request from what came before it for the same delivery id.
 */
export type Behaviour = (req: { deliveryId: string; seen: number; body: Buffer }) => number | 'hang';

/** A real HTTP receiver on 127.0.0.1 that records every request, for webhook tests and the bench. */
export class WebhookReceiver {
  readonly received: Received[] = [];
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    public behaviour: Behaviour,
  ) {}

  static async start(behaviour: Behaviour = () => 200): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server, behaviour);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const deliveryId = String(req.headers['x-vigil-delivery'] ?? '');
        const seen = receiver.received.filter((r) => r.headers['x-vigil-delivery'] === deliveryId).length;
        const what = receiver.behaviour({ deliveryId, seen, body });
        receiver.received.push({ headers: req.headers, body, arrivedMs: Date.now(), answered: what === 'hang' ? 0 : what });
        if (what === 'hang') {
          receiver.hanging.add(res);
          res.on('close', () => receiver.hanging.delete(res));
          return;
        }
        res.writeHead(what, { 'content-type': 'text/plain' }).end(what >= 300 ? `no thanks (${what})` : 'ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Requests that carried this delivery id. */
  for(deliveryId: string): Received[] {
    return this.received.filter((r) => r.headers['x-vigil-delivery'] === deliveryId);
  }

  /** The parsed bodies of the requests answered 2xx. */
  deliveredBodies(): Array<Record<string, unknown>> {
    return this.received.filter((r) => r.answered >= 200 && r.answered < 300).map((r) => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>);
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
