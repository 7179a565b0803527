import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';

/** A device answered more than the agent allows for one response. */
export class ResponseTooLargeError extends Error {
  constructor(readonly limitBytes: number) {
    super(`the device sent more than ${limitBytes} bytes in one response`);
    this.name = 'ResponseTooLargeError';
  }
}

/** What the onvif package's requests go through: bounded in bytes, and every socket closable at once. */
export interface BoundedAgent {
  readonly agent: http.Agent;
  /** Closes every socket the agent opened (a deadline passed, or the caller is done). */
  destroy(): void;
}

/**
 * The onvif package buffers each response whole and has no size limit of its own: this agent counts
 * the bytes every socket receives (one request per socket: no keep-alive) and destroys a socket that
 * passes `maxResponseBytes`, which fails that request. TLS certificates are not checked: cameras
 * serve self-signed ones, and the credentials never travel in clear (WS-Security and HTTP digests).
 */
export function boundedAgent(secure: boolean, maxResponseBytes: number): BoundedAgent {
  const sockets = new Set<Duplex>();
  const watch = (socket: Duplex) => {
    let bytes = 0;
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxResponseBytes) socket.destroy(new ResponseTooLargeError(maxResponseBytes));
    });
    socket.once('close', () => sockets.delete(socket));
  };
  const agent = secure
    ? new (class extends https.Agent {
        override createConnection(...args: Parameters<https.Agent['createConnection']>) {
          const socket = super.createConnection(...args);
          if (socket) watch(socket);
          return socket;
        }
      })({ keepAlive: false, rejectUnauthorized: false })
    : new (class extends http.Agent {
        override createConnection(...args: Parameters<http.Agent['createConnection']>) {
          const socket = super.createConnection(...args);
          if (socket) watch(socket);
          return socket;
        }
      })({ keepAlive: false });
  return {
    agent,
    destroy() {
      for (const s of sockets) s.destroy();
      agent.destroy();
    },
  };
}
