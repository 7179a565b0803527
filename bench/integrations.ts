/**
 * Recording CPU with every integration on ÷ off (issue 18). The same N cameras on one shared noisy
 * 720p15 ~2 Mbit/s mount are recorded by a fresh Vigil process per run, runs interleaved off, on, on,
 * off, … so that drift of the machine cancels. The goal figure is steady recording, which emits almost
 * no events. With `eventsPerSecond` > 0 both kinds of run get the same event load: the bench tags and
 * untags a segment's incident that often (`incident_changed`, an operator's action), and the figure is
 * what delivering each event costs (on − off). The fake camera mount is `seek: false`: each camera's
 * PLAY joins the running stream; a seekable shared mount restarts for every join and sets back every
 * other camera's clock, a storm of reconnects that is the fixture's, not Vigil's. "On" adds, in the same Vigil:
 *  - Prometheus: `/metrics` (metrics.public) scraped every 5 s;
 *  - webhooks: one subscription to every event of every camera, delivered to a receiver on 127.0.0.1;
 *  - MQTT: a mosquitto started here, discovery on, a subscriber to every Vigil topic;
 *  - ONVIF: every camera's `onvif_url` points at a fake device, so the clock watch reads it (at start,
 *    then hourly by default: the measured windows hold none of those reads unless the count says so).
 * CPU is utime + stime from /proc of the Vigil Node process and, apart, of its ffmpeg children, over the
 * window that starts after every camera records and the warm-up. Vigil is started here rather than by
 * `startVigilChild`, which writes only cameras into its config file.
 * Standalone, to find which integration costs: `node --import tsx bench/integrations.ts [--cameras N]
 * [--seconds D] [--pairs P] [--with metrics,webhooks,mqtt,onvif] [--events-per-second R] [--keep-logs DIR] [--tsx]`
 * (sections `integrations` of bench/run.ts: every integration, steady and then one event a second).
 */
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { stringify } from 'yaml';
import { RtspServer, rtspServerAvailable } from '../src/demo/rtsp-server.js';
import { startMosquitto, watchTopics, type TopicWatcher } from '../test/support/mosquitto.js';
import { startOnvifFake, type OnvifFake } from '../test/support/onvif-fake.js';
import { WebhookReceiver } from '../test/support/webhook-receiver.js';
import { cleanupAll, defer, installSignalHandlers, tempDir } from './cleanup.js';
import { allStats, CpuTracker, freePort, sleep, waitUntil } from './proc.js';
import { vigilEntry, type VigilEntry } from './processes.js';
import { check, fmt, goal, renderTable, type Row, type SectionResult } from './report.js';

export const INTEGRATIONS = ['metrics', 'webhooks', 'mqtt', 'onvif'] as const;
export type Integration = (typeof INTEGRATIONS)[number];

export interface IntegrationsBenchOptions {
  cameras: number;
  seconds: number;
  warmupSeconds: number;
  segmentSeconds: number;
  /** Off/on pairs; the order alternates (off on, on off, …). */
  pairs: number;
  /** What the "on" runs turn on; default every integration. */
  with?: readonly Integration[];
  /** Incident tags a second in every run (default 1; 0: none, only what recording itself emits). */
  eventsPerSecond?: number;
  entry: VigilEntry;
  log: (msg: string) => void;
  /** Copy each run's Vigil log here (`<n>-<condition>.log`) before its folder is removed. */
  keepLogsDir?: string;
}

const MOUNT = { name: 'bench', pattern: 'snow', width: 1280, height: 720, fps: 15, bitrateKbps: 2000, shared: true, seek: false } as const;
const SAMPLE_MS = 500;
const SCRAPE_EVERY_MS = 5000;
const MQTT_PREFIX = 'vigil-bench';
const SETPRIV = '/usr/bin/setpriv';
const GOAL_RATIO = 1.02;

type Condition = 'off' | 'on';

/** What the "on" runs talk to; shared by every run (each Vigil is new). */
interface Integrations {
  receiver: WebhookReceiver;
  brokerUrl: string;
  mqtt: TopicWatcher;
  onvif: OnvifFake;
}

interface RunningVigil {
  pid: number;
  url: string;
  dbPath: string;
  /** Signed-in admin: session cookie and same Origin (a change from another origin is refused). */
  headers: Record<string, string>;
  stop(): Promise<void>;
}

interface RunResult {
  condition: Condition;
  wallSeconds: number;
  nodeCpuSeconds: number;
  ffmpegCpuSeconds: number;
  processes: number;
  eventsEmitted: number;
  webhookDeliveries: number;
  mqttEvents: number;
  mqttMessages: number;
  scrapes: number;
  onvifCalls: number;
  /** ONVIF requests from Vigil's start to the window (the clock watch's first round). */
  onvifCallsBefore: number;
  gaps: number;
  reconnects: number;
}

/** `vigil serve` from the bench's entry (dist/ when built) with `config`; resolves signed in. */
async function startVigil(workDir: string, config: Record<string, unknown>, entry: VigilEntry, keepLogAs?: string): Promise<RunningVigil> {
  const dataDir = join(workDir, 'data');
  const configPath = join(workDir, 'vigil.yml');
  const logPath = join(workDir, 'vigil.log');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  writeFileSync(configPath, stringify({ demo: false, listen: `127.0.0.1:${port}`, log_level: 'info', ...config }));
  const argv = [process.execPath, ...entry.args, 'serve', '--config', configPath, '--data', dataDir, '--listen', `127.0.0.1:${port}`];
  // As startVigilChild: own process group, and Vigil (then its ffmpegs) ends should the bench be killed.
  const full = existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'TERM', '--', ...argv] : argv;
  const logFd = openSync(logPath, 'a');
  const child = spawn(full[0] as string, full.slice(1), { cwd: workDir, detached: true, stdio: ['ignore', logFd, logFd], env: { ...process.env, VIGIL_LOG_LEVEL: 'info' } });
  closeSync(logFd);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const isExited = () => child.exitCode !== null || child.signalCode !== null;
  const stop = defer(`vigil ${child.pid ?? '?'}`, async () => {
    if (isExited()) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => !isExited() && child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    if (keepLogAs) copyFileSync(logPath, keepLogAs);
  });
  try {
    const outcome = await waitUntil('Vigil readyz', async () => {
      if (isExited()) return 'exited';
      return (await fetch(`${url}/api/v1/readyz`).catch(() => undefined))?.ok ? 'ready' : undefined;
    }, 60_000, 100);
    if (outcome === 'exited') throw new Error(`vigil exited before ready:\n${readFileSync(logPath, 'utf8').slice(-2000)}`);
    const password = readFileSync(join(dataDir, 'initial-admin-password'), 'utf8').trim();
    const login = await fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) });
    if (!login.ok) throw new Error(`sign-in failed: ${login.status} ${await login.text()}`);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    return { pid: child.pid ?? -1, url, dbPath: join(dataDir, 'vigil.db'), headers: { cookie, origin: url }, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Runs `fn` every `ms` (never two at once) until the returned stop, which waits for the last run. */
function every(ms: number, fn: () => Promise<void>): () => Promise<void> {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t0 = performance.now();
      await fn().catch(() => undefined);
      await sleep(Math.max(0, ms - (performance.now() - t0)));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

/** CPU of `pid` with its descendants (`tree`) and alone (`node`) over `seconds`, sampled every 500 ms. */
async function measure(pid: number, seconds: number): Promise<{ tree: CpuTracker; node: CpuTracker; startMs: number; endMs: number }> {
  const tree = new CpuTracker(() => [pid]);
  const node = new CpuTracker(() => [pid], false);
  let stats = allStats();
  const startMs = Date.now();
  tree.start(stats);
  node.start(stats);
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    await sleep(Math.min(SAMPLE_MS, Math.max(0, end - performance.now())));
    stats = allStats();
    tree.sample(stats);
    node.sample(stats);
  }
  stats = allStats();
  tree.stop(stats);
  node.stop(stats);
  return { tree, node, startMs, endMs: Date.now() };
}

function one(dbPath: string, sql: string): number {
  const db = new BetterSqlite3(dbPath, { readonly: true, fileMustExist: true });
  try {
    return Number((db.prepare(sql).get() as { n: number | null } | undefined)?.n ?? 0);
  } finally {
    db.close();
  }
}

/** Numbers the runs of this process, for kept logs. */
let runNumber = 0;

async function run(o: IntegrationsBenchOptions, server: RtspServer, condition: Condition, it: Integrations): Promise<RunResult> {
  const enabled = new Set<Integration>(condition === 'on' ? (o.with ?? INTEGRATIONS) : []);
  const work = await tempDir(`vigil-bench-integrations-${condition}-`);
  let vigil: RunningVigil | undefined;
  const stops: Array<() => Promise<void>> = [];
  const onvifAtStart = it.onvif.requests.length;
  try {
    const cameras = Array.from({ length: o.cameras }, (_, i) => ({
      id: `cam${String(i + 1).padStart(2, '0')}`,
      main_url: server.url(MOUNT.name),
      segment_seconds: o.segmentSeconds,
      ...(enabled.has('onvif') ? { onvif_url: it.onvif.xaddr } : {}),
    }));
    const integrations = {
      ...(enabled.has('metrics') ? { metrics: { public: true } } : {}),
      ...(enabled.has('mqtt') ? { mqtt: { url: it.brokerUrl, topic_prefix: MQTT_PREFIX } } : {}),
      ...(enabled.has('webhooks') ? { webhooks: { allow_private_networks: ['127.0.0.0/8'] } } : {}),
    };
    const keepLogAs = o.keepLogsDir ? join(o.keepLogsDir, `${++runNumber}-${condition}.log`) : undefined;
    if (o.keepLogsDir) mkdirSync(o.keepLogsDir, { recursive: true });
    vigil = await startVigil(work.path, { cameras, ...integrations }, o.entry, keepLogAs);
    const v = vigil;
    const post = (path: string, method: string, body: unknown) =>
      fetch(`${v.url}/api/v1${path}`, { method, headers: { ...v.headers, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (enabled.has('webhooks')) {
      const res = await post('/webhooks', 'POST', { name: 'bench', url: it.receiver.url(), event_types: 'all', cameras: 'all' });
      if (res.status !== 201) throw new Error(`webhook not created: ${res.status} ${await res.text()}`);
    }
    await waitUntil('every camera recording', () => one(v.dbPath, "SELECT count(*) AS n FROM camera_status WHERE state = 'recording'") >= o.cameras, 60_000, 200);
    const segmentId = await waitUntil('a first segment row', () => one(v.dbPath, 'SELECT min(id) AS n FROM segments'), 60_000, 200);

    let emitted = 0;
    const eventsPerSecond = o.eventsPerSecond ?? 1;
    if (eventsPerSecond > 0) {
      stops.push(every(1000 / eventsPerSecond, async () => {
        const res = await post(`/segments/${segmentId}/incident`, 'PATCH', { incident_id: emitted % 2 === 0 ? 'bench-integrations' : null });
        await res.arrayBuffer();
        if (res.ok) emitted++;
      }));
    }
    let scrapes = 0;
    if (enabled.has('metrics')) {
      stops.push(every(SCRAPE_EVERY_MS, async () => {
        const res = await fetch(`${v.url}/metrics`);
        await res.text();
        if (res.ok) scrapes++;
      }));
    }
    o.log(`  ${condition}: ${o.cameras} cameras recording; warm-up ${o.warmupSeconds} s, then ${o.seconds} s measured`);
    await sleep(o.warmupSeconds * 1000);

    const before = { emitted, scrapes, onvif: it.onvif.requests.length };
    const { tree, node, startMs, endMs } = await measure(v.pid, o.seconds);
    const inWindow = (atMs: number) => atMs >= startMs && atMs < endMs;
    const mqttIn = enabled.has('mqtt') ? it.mqtt.messages.filter((m) => inWindow(m.atMs)) : [];
    const result: RunResult = {
      condition,
      wallSeconds: tree.wallSeconds,
      nodeCpuSeconds: node.cpuSeconds,
      ffmpegCpuSeconds: tree.cpuSeconds - node.cpuSeconds,
      processes: tree.processes,
      eventsEmitted: emitted - before.emitted,
      webhookDeliveries: enabled.has('webhooks') ? it.receiver.received.filter((r) => inWindow(r.arrivedMs)).length : 0,
      mqttEvents: mqttIn.filter((m) => m.topic.startsWith(`${MQTT_PREFIX}/events/`)).length,
      mqttMessages: mqttIn.length,
      scrapes: scrapes - before.scrapes,
      onvifCalls: it.onvif.requests.length - before.onvif,
      onvifCallsBefore: before.onvif - onvifAtStart,
      gaps: one(v.dbPath, 'SELECT count(*) AS n FROM recording_gaps'),
      reconnects: one(v.dbPath, 'SELECT sum(reconnect_count) AS n FROM camera_status'),
    };
    o.log(`  ${condition}: Vigil ${fmt.pct((100 * result.nodeCpuSeconds) / result.wallSeconds)}, its ffmpegs ${fmt.pct((100 * result.ffmpegCpuSeconds) / result.wallSeconds)}`);
    return result;
  } finally {
    for (const stop of stops) await stop();
    await vigil?.stop();
    await work.remove();
  }
}

interface Totals {
  wall: number;
  node: number;
  ffmpeg: number;
}

function totals(runs: RunResult[]): Totals {
  return runs.reduce((t, r) => ({ wall: t.wall + r.wallSeconds, node: t.node + r.nodeCpuSeconds, ffmpeg: t.ffmpeg + r.ffmpegCpuSeconds }), { wall: 0, node: 0, ffmpeg: 0 });
}

const pct = (cpuSeconds: number, wallSeconds: number) => (wallSeconds > 0 ? (100 * cpuSeconds) / wallSeconds : NaN);
const sum = (runs: RunResult[], k: keyof RunResult) => runs.reduce((n, r) => n + Number(r[k]), 0);

function rows(o: IntegrationsBenchOptions, runs: RunResult[]): Row[] {
  const offRuns = runs.filter((r) => r.condition === 'off');
  const onRuns = runs.filter((r) => r.condition === 'on');
  const off = totals(offRuns);
  const on = totals(onRuns);
  const all = (t: Totals) => pct(t.node + t.ffmpeg, t.wall);
  const ratio = all(on) / all(off);
  const pairRatios = Array.from({ length: o.pairs }, (_, i) => {
    const p = runs.slice(2 * i, 2 * i + 2);
    const a = p.find((r) => r.condition === 'on');
    const b = p.find((r) => r.condition === 'off');
    return a && b ? pct(a.nodeCpuSeconds + a.ffmpegCpuSeconds, a.wallSeconds) / pct(b.nodeCpuSeconds + b.ffmpegCpuSeconds, b.wallSeconds) : NaN;
  });
  const rate = (k: keyof RunResult) => `${fmt.num(sum(onRuns, k) / on.wall, 2)}/s`;
  const n = o.cameras;
  const what = o.with && o.with.length < INTEGRATIONS.length ? `${o.with.join(' + ')} on` : 'integrations on';
  const eventsPerSecond = o.eventsPerSecond ?? 1;
  // The goal is recording's: steady recording emits almost no events. Under an event load, what each
  // event costs the integrations (delivering it) is the figure instead.
  const load = eventsPerSecond > 0 ? `, ${eventsPerSecond} operator event/s` : ', steady';
  const extraMsPerEvent = eventsPerSecond > 0 ? ((on.node + on.ffmpeg) / on.wall - (off.node + off.ffmpeg) / off.wall) * 1000 / eventsPerSecond : NaN;
  return [
    {
      figure: `Recording CPU, ${n} cams${load}, ${what} (Vigil + its ffmpegs; ${o.pairs}×${o.seconds} s each)`,
      value: fmt.pct(all(on)),
      baseline: `${fmt.pct(all(off))} (integrations off)`,
      ratio: fmt.ratio(ratio),
      ...(eventsPerSecond > 0 ? {} : { goal: goal(`≤ ${GOAL_RATIO.toFixed(2)}×`, check(ratio, (r) => r <= GOAL_RATIO)) }),
    },
    ...(eventsPerSecond > 0 ? [{ figure: '  CPU per event delivered (on − off, all integrations)', value: `${fmt.num(extraMsPerEvent, 1)} ms` }] : []),
    { figure: '  the Vigil Node process', value: fmt.pct(pct(on.node, on.wall)), baseline: fmt.pct(pct(off.node, off.wall)), ratio: fmt.ratio(on.node / on.wall / (off.node / off.wall)) },
    { figure: '  its ffmpegs', value: fmt.pct(pct(on.ffmpeg, on.wall)), baseline: fmt.pct(pct(off.ffmpeg, off.wall)), ratio: fmt.ratio(on.ffmpeg / on.wall / (off.ffmpeg / off.wall)) },
    { figure: '  on ÷ off per pair (Vigil + its ffmpegs)', value: pairRatios.map((r) => fmt.ratio(r)).join(' ') },
    {
      figure: '  events delivered while on: webhooks / MQTT events (all MQTT messages)',
      value: `${rate('webhookDeliveries')} / ${rate('mqttEvents')} (${rate('mqttMessages')})`,
      baseline: `${rate('eventsEmitted')} incident tags (off and on)`,
    },
    {
      figure: '  in the "on" windows: /metrics scrapes / ONVIF requests',
      value: `${sum(onRuns, 'scrapes')} / ${sum(onRuns, 'onvifCalls')} (${sum(onRuns, 'onvifCallsBefore')} before them)`,
      baseline: `gaps / reconnects: ${sum(offRuns, 'gaps')} / ${sum(offRuns, 'reconnects')} off, ${sum(onRuns, 'gaps')} / ${sum(onRuns, 'reconnects')} on`,
    },
  ];
}

export async function runIntegrations(o: IntegrationsBenchOptions): Promise<SectionResult[]> {
  const avail = await rtspServerAvailable();
  if (!avail.ok) throw new Error(`RTSP server unavailable: ${avail.reason}`);
  const dir = await tempDir('vigil-bench-integrations-');
  const server = await RtspServer.start({ mounts: [MOUNT] });
  const stopServer = defer('RTSP server', () => server.stop());
  const receiver = await WebhookReceiver.start();
  const stopReceiver = defer('webhook receiver', () => receiver.stop());
  const broker = await startMosquitto({ dir: dir.path });
  const stopBroker = defer('mosquitto', () => broker.stop());
  const mqtt = await watchTopics(broker.url, [`${MQTT_PREFIX}/#`]);
  const stopMqtt = defer('MQTT subscriber', () => mqtt.end());
  const onvif = await startOnvifFake();
  const stopOnvif = defer('ONVIF fake', () => onvif.close());
  try {
    const it: Integrations = { receiver, brokerUrl: broker.url, mqtt, onvif };
    const runs: RunResult[] = [];
    for (let i = 0; i < o.pairs; i++) {
      const order: Condition[] = i % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      for (const c of order) runs.push(await run(o, server, c, it));
    }
    return [
      {
        name: (o.eventsPerSecond ?? 1) > 0 ? 'integrations-events' : 'integrations',
        rows: rows(o, runs),
        data: {
          cameras: o.cameras,
          measuredSecondsPerRun: o.seconds,
          warmupSeconds: o.warmupSeconds,
          segmentSeconds: o.segmentSeconds,
          pairs: o.pairs,
          rtspMount: `${MOUNT.width}x${MOUNT.height} ${MOUNT.pattern} ${MOUNT.fps} fps ${MOUNT.bitrateKbps} kbps, shared`,
          vigilEntry: o.entry.kind,
          eventLoad: `PATCH /segments/:id/incident ${o.eventsPerSecond ?? 1} times a second in every run`,
          on: o.with ?? INTEGRATIONS,
          onMeans: `metrics: metrics.public, scraped every ${SCRAPE_EVERY_MS} ms; webhooks: one subscription (all events, all cameras) to 127.0.0.1; mqtt: mosquitto, discovery on, a subscriber to ${MQTT_PREFIX}/#; onvif: onvif_url on every camera (clock watch at its default interval)`,
          runs,
          goalRatio: GOAL_RATIO,
        },
      },
    ];
  } finally {
    await stopOnvif();
    await stopMqtt();
    await stopBroker();
    await stopReceiver();
    await stopServer();
    await dir.remove();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      cameras: { type: 'string', default: '16' },
      seconds: { type: 'string', default: '60' },
      pairs: { type: 'string', default: '2' },
      with: { type: 'string', default: INTEGRATIONS.join(',') },
      'events-per-second': { type: 'string', default: '0' },
      tsx: { type: 'boolean', default: false },
      'keep-logs': { type: 'string' },
    },
  });
  const chosen = (values.with ?? '').split(',').map((w) => w.trim()).filter(Boolean);
  const unknown = chosen.filter((w) => !(INTEGRATIONS as readonly string[]).includes(w));
  if (unknown.length > 0 || chosen.length === 0) {
    process.stderr.write(`bench/integrations: --with takes some of ${INTEGRATIONS.join(',')}, got "${values.with ?? ''}"\n`);
    process.exit(2);
  }
  const count = (name: 'cameras' | 'seconds' | 'pairs' | 'events-per-second', min: number) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) {
      process.stderr.write(`bench/integrations: --${name} must be an integer ≥ ${min}, got "${values[name] ?? ''}"\n`);
      process.exit(2);
    }
    return n;
  };
  const log = (msg: string) => void process.stderr.write(`${msg}\n`);
  installSignalHandlers();
  try {
    const sections = await runIntegrations({
      cameras: count('cameras', 1),
      seconds: count('seconds', 1),
      warmupSeconds: 5,
      segmentSeconds: 10,
      pairs: count('pairs', 1),
      with: chosen as Integration[],
      eventsPerSecond: count('events-per-second', 0),
      entry: vigilEntry(values.tsx ?? false),
      log,
      ...(values['keep-logs'] ? { keepLogsDir: values['keep-logs'] } : {}),
    });
    process.stdout.write(renderTable(sections) + '\n');
  } finally {
    await cleanupAll();
  }
}
