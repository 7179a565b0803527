/**
 * Webhook figures, against an in-process Vigil (real SQLite catalog, real HTTP) and a real receiver on
 * loopback that answers 200 at once:
 * - event → delivered: from the instant an event is stored in the log (its `ts`) to the arrival of its
 *   signed request at the receiver, events emitted one at a time (spaced), p50/p95;
 * - a burst: N events emitted at once, the time until the receiver has all of them (deliveries/s).
 * Standalone: `node --import tsx bench/webhooks.ts [--events N]` (section `webhooks` for bench/run.ts: runWebhooks()).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { sleep } from '../src/shared/sleep.js';
import { removeDir, startVigil, waitFor } from '../test/support/harness.js';
import { WebhookReceiver } from '../test/support/webhook-receiver.js';
import { percentile } from './proc.js';
import { fmt, renderTable, type SectionResult } from './report.js';

export interface WebhooksBenchOptions {
  /** Events emitted one at a time (the latency sample). */
  events: number;
  /** Events emitted at once (the burst). */
  burst: number;
  log: (msg: string) => void;
}

/** Between two spaced events: long enough that each is delivered alone. */
const SPACING_MS = 50;

export async function runWebhooks(o: WebhooksBenchOptions): Promise<SectionResult[]> {
  const receiver = await WebhookReceiver.start();
  const vigil = await startVigil({ webhooks: { allow_private_networks: ['127.0.0.0/8'] } });
  try {
    const res = await vigil.api('/webhooks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: receiver.url(), event_types: ['bench_spaced', 'bench_burst'] }) });
    if (res.status !== 201) throw new Error(`webhook not created: ${res.status} ${await res.text()}`);
    const events = vigil.app.events;
    const arrivals = (type: string) => receiver.received.map((r) => ({ r, body: JSON.parse(r.body.toString()) as { type: string; ts: string } })).filter((x) => x.body.type === type);

    o.log(`  ${o.events} events, one every ${SPACING_MS} ms …`);
    for (let i = 0; i < o.events; i++) {
      await events.emit({ type: 'bench_spaced', requestId: null, payload: { i } });
      await sleep(SPACING_MS);
    }
    await waitFor('every spaced event delivered', () => arrivals('bench_spaced').length >= o.events, 60_000, 20);
    const latency = arrivals('bench_spaced').map(({ r, body }) => r.arrivedMs - Date.parse(body.ts));

    o.log(`  a burst of ${o.burst} events …`);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: o.burst }, (_, i) => events.emit({ type: 'bench_burst', requestId: null, payload: { i } })));
    await waitFor('every burst event delivered', () => arrivals('bench_burst').length >= o.burst, 120_000, 10);
    const burstMs = performance.now() - t0;
    const burstLatency = arrivals('bench_burst').map(({ r, body }) => r.arrivedMs - Date.parse(body.ts));
    const p50 = percentile(latency, 50);
    const p95 = percentile(latency, 95);
    return [{
      name: 'webhooks',
      rows: [
        { figure: `event → webhook delivered p50 (${o.events} events, loopback receiver)`, value: fmt.ms(p50, 1) },
        { figure: 'event → webhook delivered p95', value: fmt.ms(p95, 1) },
        {
          figure: `burst of ${o.burst} events: all delivered (p95 event → delivered)`,
          value: `${fmt.ms(burstMs)} (${fmt.ms(percentile(burstLatency, 95))})`,
          baseline: `${fmt.num(o.burst / (burstMs / 1000))} deliveries/s, ≤ 4 in flight per receiver`,
        },
      ],
      data: { latencyMs: latency, burstMs, burstLatencyMs: burstLatency, spacingMs: SPACING_MS },
    }];
  } finally {
    await vigil.app.stop();
    await receiver.stop();
    await removeDir(vigil.dataDir);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { events: { type: 'string', default: '200' }, burst: { type: 'string', default: '500' } } });
  const log = (msg: string) => void process.stderr.write(`${msg}\n`);
  const sections = await runWebhooks({ events: Number(values.events), burst: Number(values.burst), log });
  process.stdout.write(renderTable(sections) + '\n');
}
