import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { Target } from './address-policy.js';

/** Of a receiver's answer only this much is read (for the ledger's `last_error`); the rest is dropped. */
export const MAX_RESPONSE_BYTES = 4096;

export interface WebhookAnswer {
  status: number;
  /** The start of the answer's body, as text. */
  bodyStart: string;
}

export interface SendOptions {
  timeoutMs: number;
  /** Vigil stopping: the attempt is abandoned at once. */
  signal: AbortSignal;
}

/** Sends one attempt; tests may replace it. */
export type WebhookSender = (target: Target, body: Buffer, headers: Record<string, string>, o: SendOptions) => Promise<WebhookAnswer>;

/** The attempt took longer than `webhooks.timeout_seconds`. */
export class WebhookTimeout extends Error {}

/**
 * POSTs `body` to the checked address of `target` (a lookup that returns it: the Host header, TLS
 * server name and certificate check still use the URL's host name). No redirect is followed, no
 * connection is kept for another attempt, and the whole attempt — connect, send, answer, the first
 * MAX_RESPONSE_BYTES of its body — ends after `timeoutMs`.
 */
export const postWebhook: WebhookSender = (target, body, headers, o) => {
  const url = target.url;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if (options.all) (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
  const timeout = AbortSignal.timeout(o.timeoutMs);
  const signal = AbortSignal.any([o.signal, timeout]);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<WebhookAnswer>((resolve, reject) => {
    const fail = (err: unknown) => reject(timeout.aborted && !o.signal.aborted ? new WebhookTimeout(`timed out after ${o.timeoutMs / 1000} s`) : err);
    const req = request({
      host,
      port: url.port === '' ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      headers: { ...headers, 'content-length': String(body.length) },
      lookup,
      agent: false,
      signal,
    });
    req.on('error', fail);
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      const done = () => {
        res.destroy();
        resolve({ status: res.statusCode ?? 0, bodyStart: Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES).toString('utf8') });
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        bytes += chunk.length;
        if (bytes >= MAX_RESPONSE_BYTES) done();
      });
      res.on('end', done);
      res.on('error', fail);
    });
    req.end(body);
  });
};
