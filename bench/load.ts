/**
 * An autocannon-like load generator: `concurrency` loops of plain `fetch`, each waiting for its
 * response before the next request. It runs in a worker thread so that the server under test (on
 * the main thread) does not share its event loop with the client.
 */
import { Worker } from 'node:worker_threads';
import { percentile } from './proc.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { urls, concurrency, seconds, headers } = workerData;
(async () => {
  const lat = [];
  let ok = 0, errors = 0, bytes = 0, i = 0, firstError = null;
  const end = performance.now() + seconds * 1000;
  async function loop() {
    while (performance.now() < end) {
      const url = urls[i++ % urls.length];
      const t = performance.now();
      try {
        const res = await fetch(url, { headers });
        const body = await res.arrayBuffer();
        if (res.ok) { ok++; bytes += body.byteLength; lat.push(performance.now() - t); }
        else { errors++; firstError ??= res.status + ' ' + Buffer.from(body).toString('utf8').slice(0, 200); }
      } catch (err) { errors++; firstError ??= String(err); }
    }
  }
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = (performance.now() - t0) / 1000;
  parentPort.postMessage({ ok, errors, firstError, bytes, elapsed, lat });
})();
`;

export interface LoadResult {
  ok: number;
  errors: number;
  firstError: string | null;
  bytes: number;
  elapsedSeconds: number;
  rps: number;
  latencyMs: { p50: number; p99: number };
  /** Every successful request's latency, ms. */
  latencies: number[];
}

export function runLoad(urls: string[], concurrency: number, seconds: number, headers: Record<string, string> = {}): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { urls, concurrency, seconds, headers } });
    worker.once('message', (m: { ok: number; errors: number; firstError: string | null; bytes: number; elapsed: number; lat: number[] }) => {
      resolve({
        ok: m.ok,
        errors: m.errors,
        firstError: m.firstError,
        bytes: m.bytes,
        elapsedSeconds: m.elapsed,
        rps: m.ok / m.elapsed,
        latencyMs: { p50: percentile(m.lat, 50), p99: percentile(m.lat, 99) },
        latencies: m.lat,
      });
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load worker exited with code ${code}`));
    });
  });
}
