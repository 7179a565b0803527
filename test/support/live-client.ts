/** A live-view WebSocket client for tests and benchmarks (the `ws` package, as a browser would speak it). */
import { WebSocket } from 'ws';
import { Fmp4StreamSplitter, type LiveFragment, type LiveInit } from '../../src/media/fmp4/stream.js';
import { waitFor } from './harness.js';

export interface LiveMessage {
  /** performance.now() when the message arrived. */
  at: number;
  text?: { type: string; [k: string]: unknown };
  binary?: Buffer;
}

export class LiveHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`live upgrade refused with HTTP ${status}: ${body}`);
  }
}

export class LiveClient {
  readonly messages: LiveMessage[] = [];
  closed: { code: number; reason: string } | undefined;

  private constructor(
    readonly socket: WebSocket,
    /** performance.now() when the upgrade completed. */
    readonly openedAt: number,
  ) {
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      const at = performance.now();
      if (isBinary) this.messages.push({ at, binary: data });
      else this.messages.push({ at, text: JSON.parse(data.toString('utf8')) as LiveMessage['text'] });
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
    });
  }

  /** Opens `ws(s)://…/api/v1/cameras/<id>/live…`; rejects with LiveHttpError when the upgrade is refused. */
  static connect(baseUrl: string, path: string, headers: Record<string, string>): Promise<LiveClient> {
    const url = `${baseUrl.replace(/^http/, 'ws')}/api/v1${path}`;
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers, perMessageDeflate: false });
      socket.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => reject(new LiveHttpError(res.statusCode ?? 0, body)));
      });
      socket.once('error', reject);
      const client = new LiveClient(socket, 0);
      socket.once('open', () => {
        (client as { openedAt: number }).openedAt = performance.now();
        resolve(client);
      });
    });
  }

  texts(): Array<NonNullable<LiveMessage['text']>> {
    return this.messages.flatMap((m) => (m.text ? [m.text] : []));
  }

  binaries(): Buffer[] {
    return this.messages.flatMap((m) => (m.binary ? [m.binary] : []));
  }

  /** Parses the binary messages from message index `from`: the init they start with, and the fragments. */
  stream(from = 0): { init: LiveInit | undefined; fragments: Array<LiveFragment & { at: number }> } {
    const splitter = new Fmp4StreamSplitter();
    let init: LiveInit | undefined;
    const fragments: Array<LiveFragment & { at: number }> = [];
    for (const m of this.messages.slice(from)) {
      if (!m.binary) continue;
      for (const c of splitter.push(m.binary)) {
        if (c.kind === 'init') init = c.init;
        else fragments.push({ ...c.fragment, at: m.at });
      }
    }
    return { init, fragments };
  }

  /** Waits until at least `n` fragments (binary messages after the first init) arrived. */
  async waitForFragments(n: number, timeoutMs = 20_000): Promise<void> {
    await waitFor(`${n} live fragments`, () => this.stream().fragments.length >= n, timeoutMs, 20);
  }

  /** Stops reading the socket (TCP backs up to the server), as a stalled browser tab would. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    const done = new Promise<void>((r) => this.socket.once('close', () => r()));
    this.socket.close(1000);
    await done;
  }
}
