/**
 * MQTT figures against a local mosquitto: event → MQTT message latency. A real Vigil (in this process)
 * emits events through its event log (stored in SQLite, then published by the bridge); a subscriber of
 * this process's own times each one from just before `emit` to its arrival on `<prefix>/events/<type>`.
 *  - paced: one event every `paceMs` (what an event costs on its own);
 *  - burst: `burst` events emitted at once (the queue and the in-flight window at work).
 */
import { removeDir, startVigil } from '../test/support/harness.js';
import { startMosquitto, watchTopics } from '../test/support/mosquitto.js';
import { defer, tempDir } from './cleanup.js';
import { percentile, sleep } from './proc.js';
import { check, fmt, goal, type SectionResult } from './report.js';

export interface MqttBenchOptions {
  events: number;
  paceMs: number;
  burst: number;
  log: (msg: string) => void;
}

const PREFIX = 'vigil-bench';
const TYPE = 'bench_probe';

export async function runMqtt(o: MqttBenchOptions): Promise<SectionResult[]> {
  const dir = await tempDir('vigil-bench-mqtt-');
  const broker = await startMosquitto({ dir: dir.path });
  const stopBroker = defer('mosquitto', () => broker.stop());
  const vigil = await startVigil({ mqtt: { url: broker.url, topic_prefix: PREFIX } });
  const stopVigil = defer('Vigil', async () => {
    await vigil.app.stop();
    await removeDir(vigil.dataDir);
  });
  const watcher = await watchTopics(broker.url, [`${PREFIX}/events/${TYPE}`]);
  const endWatcher = defer('MQTT subscriber', () => watcher.end());
  try {
    const sentAt = new Map<number, number>();
    const latencyMs = new Map<number, number>();
    watcher.client.on('message', (_topic, payload) => {
      const at = performance.now();
      const seq = (JSON.parse(payload.toString()) as { payload: { seq: number } }).payload.seq;
      const t0 = sentAt.get(seq);
      if (t0 !== undefined) latencyMs.set(seq, at - t0);
    });
    const emit = (seq: number) => {
      sentAt.set(seq, performance.now());
      return vigil.app.events.emit({ type: TYPE, requestId: null, payload: { seq } });
    };
    const received = async (from: number, to: number, what: string) => {
      const deadline = performance.now() + 30_000;
      while (performance.now() < deadline) {
        let all = true;
        for (let s = from; s < to && all; s++) all = latencyMs.has(s);
        if (all) return;
        await sleep(20);
      }
      o.log(`bench: mqtt: ${what}: only ${[...latencyMs.keys()].filter((s) => s >= from && s < to).length}/${to - from} events arrived`);
    };
    o.log(`bench: mqtt: ${o.events} events, one every ${o.paceMs} ms…`);
    for (let s = 0; s < o.events; s++) {
      await emit(s);
      await sleep(o.paceMs);
    }
    await received(0, o.events, 'paced');
    o.log(`bench: mqtt: a burst of ${o.burst} events…`);
    const burstT0 = performance.now();
    await Promise.all(Array.from({ length: o.burst }, (_, i) => emit(o.events + i)));
    // The events' own cost (stored one by one in SQLite), which every latency of the burst includes.
    const burstEmitMs = performance.now() - burstT0;
    await received(o.events, o.events + o.burst, 'burst');
    const paced = [...latencyMs].filter(([s]) => s < o.events).map(([, ms]) => ms);
    const burst = [...latencyMs].filter(([s]) => s >= o.events).map(([, ms]) => ms);
    const p = (xs: number[], q: number) => percentile(xs, q);
    const stats = vigil.app.mqtt?.stats();
    return [
      {
        name: 'mqtt',
        rows: [
          { figure: `event → MQTT message p50 (${paced.length}/${o.events} paced)`, value: fmt.ms(p(paced, 50), 1) },
          { figure: 'event → MQTT message p95', value: fmt.ms(p(paced, 95), 1), goal: goal('< 50 ms', check(p(paced, 95), (v) => v < 50)) },
          { figure: `event → MQTT message p95, burst of ${o.burst}`, value: fmt.ms(p(burst, 95), 1), goal: goal(`all ${o.burst} delivered`, burst.length === o.burst) },
          { figure: `  of which storing the ${o.burst} events`, value: fmt.ms(burstEmitMs, 0) },
        ],
        data: {
          paced: { count: paced.length, sent: o.events, paceMs: o.paceMs, p50Ms: p(paced, 50), p95Ms: p(paced, 95), maxMs: Math.max(...paced) },
          burst: { count: burst.length, sent: o.burst, emitMs: burstEmitMs, p50Ms: p(burst, 50), p95Ms: p(burst, 95), maxMs: Math.max(...burst) },
          bridge: stats,
        },
      },
    ];
  } finally {
    await endWatcher();
    await stopVigil();
    await stopBroker();
    await dir.remove();
  }
}
