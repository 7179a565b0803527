import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type VigilApp } from '../../src/app.js';
import { buildConfig } from '../../src/config/config.js';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { parsePrometheusText, sampleValue, seriesCount, type Family } from '../support/prom-text.js';
import { ffmpegPidsFor, memoryLogger, removeDir, startVigil, tempDir, waitFor, type TestVigil } from '../support/harness.js';

const DEPLOY = resolve(import.meta.dirname, '../../deploy');
const DASHBOARD = join(DEPLOY, 'grafana/vigil-dashboard.json');
const ALERTS = join(DEPLOY, 'prometheus/vigil-alerts.yml');
const ALERT_TESTS = join(DEPLOY, 'prometheus/vigil-alerts.test.yml');
/** Debian's `prometheus` package brings promtool; without it the rule checks are skipped (named below). */
const PROMTOOL = (process.env['PATH'] ?? '').split(delimiter).map((d) => join(d, 'promtool')).find((p) => existsSync(p));
const run = promisify(execFile);

/** Every PromQL expression of the dashboard, its template variables matching everything. */
async function dashboardExprs(): Promise<string[]> {
  const dash = JSON.parse(await readFile(DASHBOARD, 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
  return dash.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr.replaceAll('"$instance"', '".+"').replaceAll('"$camera"', '".+"'));
}

interface Status {
  state: string;
  segments_written: number;
  reconnect_count: number;
  bitrate_bps: number | null;
}

describe('Prometheus /metrics of a real Vigil recording a real camera', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  let metricsKey: string;

  const scrape = async (key = metricsKey, path = '/metrics'): Promise<{ text: string; families: Map<string, Family> }> => {
    const res = await fetch(`${vigil.app.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    return { text, families: parsePrometheusText(text) };
  };
  const status = async (): Promise<Status> => (await (await vigil.api('/cameras/cam1/status')).json()) as Status;
  /** Bytes of every segment the API lists for cam1. */
  const footageBytes = async (): Promise<number> => {
    let total = 0;
    let cursor: string | null = null;
    do {
      const page = (await (await vigil.api(`/cameras/cam1/segments?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&limit=1000${cursor ? `&cursor=${cursor}` : ''}`)).json()) as {
        segments: Array<{ size_bytes: number }>;
        next_cursor: string | null;
      };
      total += page.segments.reduce((a, s) => a + s.size_bytes, 0);
      cursor = page.next_cursor;
    } while (cursor);
    return total;
  };
  /** Scrape and API agree on cam1's counters (retried: a segment indexed between the two reads moves them). */
  const agreeWithApi = (what: string) =>
    waitFor(what, async () => {
      const { families } = await scrape();
      const [st, bytes] = [await status(), await footageBytes()];
      const same =
        sampleValue(families, 'vigil_camera_segments_written_total', { camera: 'cam1' }) === st.segments_written &&
        sampleValue(families, 'vigil_camera_bytes_written_total', { camera: 'cam1' }) === bytes &&
        sampleValue(families, 'vigil_camera_reconnects_total', { camera: 'cam1' }) === st.reconnect_count &&
        sampleValue(families, 'vigil_camera_state', { camera: 'cam1', state: st.state }) === 1;
      return same ? { families, st, bytes } : undefined;
    }, 20_000, 250);

  beforeAll(async () => {
    server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    vigil = await startVigil({ cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }] });
    const res = await vigil.api('/api-keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'prometheus', role: 'operator', capabilities: ['metrics'] }),
    });
    expect(res.status).toBe(201);
    metricsKey = ((await res.json()) as { key: string }).key;
    await waitFor('three segments of cam1', async () => (await status()).segments_written >= 3, 40_000, 250);
  }, 60_000);

  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('refuses a scrape without an identity: 401 with a JSON error, at both paths', async () => {
    for (const path of ['/metrics', '/api/v1/metrics']) {
      const res = await fetch(`${vigil.app.url}${path}`);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toMatchObject({ error: 'unauthenticated' });
    }
  });

  it('lets an API key with only the metrics capability scrape, and nothing else', async () => {
    const root = await scrape();
    const api = await scrape(metricsKey, '/api/v1/metrics');
    expect(root.families.has('vigil_camera_state')).toBe(true);
    expect(api.families.has('vigil_camera_state')).toBe(true);
    const cameras = await fetch(`${vigil.app.url}/api/v1/cameras`, { headers: { authorization: `Bearer ${metricsKey}` } });
    expect(cameras.status).toBe(403);
    expect(await cameras.json()).toMatchObject({ error: 'forbidden' });
  });

  it('reports the camera recording, with segments, bytes and reconnects equal to the API', async () => {
    const { families, st, bytes } = await agreeWithApi('scrape and API to agree while recording');
    expect(st.state).toBe('recording');
    expect(st.segments_written).toBeGreaterThanOrEqual(3);
    expect(bytes).toBeGreaterThan(0);
    for (const state of ['disabled', 'connecting', 'offline', 'error']) expect(sampleValue(families, 'vigil_camera_state', { camera: 'cam1', state })).toBe(0);
    expect(sampleValue(families, 'vigil_camera_bitrate_bps', { camera: 'cam1' })).toBeGreaterThan(0);
    expect(sampleValue(families, 'vigil_camera_last_segment_age_seconds', { camera: 'cam1' })).toBeLessThan(10);
    expect(sampleValue(families, 'vigil_camera_gaps', { camera: 'cam1', fill_state: 'not_applicable' })).toBe(0);
    // Every live segment was timed from its report to its row.
    expect(sampleValue(families, 'vigil_index_latency_seconds_count')).toBeGreaterThanOrEqual(3);
    expect(sampleValue(families, 'vigil_disk_total_bytes', { disk: 'recordings' })).toBeGreaterThan(0);
    expect(sampleValue(families, 'vigil_retention_deleted_segments_total', { reason: 'age' })).toBe(0);
    expect(sampleValue(families, 'vigil_retention_blocked', { reason: 'disk_floor' })).toBe(0);
    expect(sampleValue(families, 'vigil_media_jobs_limit', { pool: 'media' })).toBe(4);
    expect(sampleValue(families, 'vigil_event_loop_lag_max_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('counts the ffmpeg processes Vigil runs: the recorder and the warm snapshot decoder', async () => {
    await waitFor('the recorder ffmpeg in /proc and in the scrape', async () => {
      const { families } = await scrape();
      const recorders = await ffmpegPidsFor(vigil.dataDir);
      return recorders.length === 1 && sampleValue(families, 'vigil_ffmpeg_processes', { kind: 'recorder' }) === 1;
    });
    // The warm decoder starts a few seconds after the recorders (they come first after a restart).
    await waitFor('the warm decoder in the scrape', async () => sampleValue((await scrape()).families, 'vigil_ffmpeg_processes', { kind: 'warm_decoder' }) === 1);
    const { families } = await scrape();
    expect(sampleValue(families, 'vigil_ffmpeg_processes', { kind: 'warm_decoder' })).toBe(1);
    expect(sampleValue(families, 'vigil_ffmpeg_processes', { kind: 'clip' })).toBe(0);
  });

  it('times a snapshot and counts it under its route template', async () => {
    const seg = ((await (await vigil.api('/cameras/cam1/segments?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&limit=1')).json()) as { segments: Array<{ start: string }> }).segments[0];
    const at = new Date(Date.parse(seg!.start) + 500).toISOString();
    expect((await vigil.api(`/cameras/cam1/snapshot.jpg?at=${at}`)).status).toBe(200);
    const { families } = await scrape();
    expect(sampleValue(families, 'vigil_media_duration_seconds_count', { kind: 'snapshot', outcome: 'ok' })).toBe(1);
    expect(sampleValue(families, 'vigil_http_requests_total', { route: '/api/v1/cameras/:id/snapshot.jpg', method: 'GET', status: '200' })).toBe(1);
  });

  it('labels requests with route templates only: ids and paths from a URL never appear, and add no series', async () => {
    const token = () => `zq${randomBytes(6).toString('hex')}`;
    const hit = async () => {
      const id = token();
      const unknown = await vigil.api(`/cameras/${id}/status`);
      expect(unknown.status).toBe(404);
      expect((await vigil.api(`/no-such-route-${token()}`)).status).toBe(404);
      expect((await fetch(`${vigil.app.url}/${token()}/metrics`)).status).toBe(404);
      expect((await vigil.api(`/cameras/cam1/segments?from=${token()}`)).status).toBe(400);
      return id;
    };
    const ids = [await hit()];
    const first = await scrape();
    for (let i = 0; i < 20; i++) ids.push(await hit());
    const second = await scrape();
    for (const id of ids) expect(second.text).not.toContain(id);
    expect(second.text).not.toContain('zq');
    expect(seriesCount(second.families)).toBe(seriesCount(first.families));
    const notFound = (f: Map<string, Family>) => sampleValue(f, 'vigil_http_requests_total', { route: '/api/v1/cameras/:id/status', method: 'GET', status: '404' }) ?? 0;
    expect(notFound(second.families) - notFound(first.families)).toBe(20);
    expect(sampleValue(second.families, 'vigil_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' })).toBeGreaterThanOrEqual(42);
  });

  it('ships a dashboard and alert rules that name only metrics a real scrape has', async () => {
    const { families } = await scrape();
    const named = new Set([...(await dashboardExprs()), await readFile(ALERTS, 'utf8')].flatMap((t) => t.match(/\bvigil_[a-z0-9_]+/g) ?? []));
    expect(named.size).toBeGreaterThan(15);
    for (const name of named) expect(families.has(name) || families.has(name.replace(/_(bucket|sum|count)$/, '')), name).toBe(true);
  });

  it('shows the camera offline once its server is gone, with counters still equal to the API', async () => {
    const before = await scrape();
    const writtenBefore = sampleValue(before.families, 'vigil_camera_segments_written_total', { camera: 'cam1' }) ?? 0;
    await server.stop();
    await waitFor('cam1 offline in the scrape', async () => {
      const { families } = await scrape();
      return sampleValue(families, 'vigil_camera_state', { camera: 'cam1', state: 'offline' }) === 1 && sampleValue(families, 'vigil_camera_state', { camera: 'cam1', state: 'recording' }) === 0;
    }, 30_000, 200);
    const { families, st } = await agreeWithApi('scrape and API to agree once the camera is gone');
    expect(st.reconnect_count).toBeGreaterThanOrEqual(1);
    expect(sampleValue(families, 'vigil_camera_segments_written_total', { camera: 'cam1' })).toBeGreaterThanOrEqual(writtenBefore);
  }, 60_000);
});

describe('metrics.public: true', () => {
  let app: VigilApp;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await tempDir();
    const config = buildConfig(
      { demo: false, listen: '127.0.0.1:0', retention: { min_free_bytes: 0 }, metrics: { public: true } },
      { source: null, cwd: dataDir, env: {}, overrides: { dataDir } },
    );
    app = await createApp(config, { log: memoryLogger().log, showSecret: () => undefined });
    await app.start();
  });

  afterAll(async () => {
    await app?.stop();
    if (dataDir) await removeDir(dataDir);
  });

  it('answers a scrape without any identity, and nothing else', async () => {
    for (const path of ['/metrics', '/api/v1/metrics']) {
      const res = await fetch(`${app.url}${path}`);
      expect(res.status, path).toBe(200);
      const families = parsePrometheusText(await res.text());
      expect(sampleValue(families, 'vigil_build_info')).toBe(1);
      expect(sampleValue(families, 'vigil_ffmpeg_processes', { kind: 'recorder' })).toBe(0);
    }
    expect((await fetch(`${app.url}/api/v1/cameras`)).status).toBe(401);
  });
});

describe.skipIf(!PROMTOOL)(`the shipped rules and dashboard with promtool${PROMTOOL ? '' : ' (SKIPPED: promtool is absent; apt-get install prometheus provides it)'}`, () => {
  it('checks the alert rules and passes their unit tests (camera down, disk nearly full, retention blocked, gap unfilled)', async () => {
    const check = await run(PROMTOOL as string, ['check', 'rules', ALERTS]);
    expect(check.stdout).toMatch(/SUCCESS: \d+ rules found/);
    const test = await run(PROMTOOL as string, ['test', 'rules', ALERT_TESTS], { cwd: join(DEPLOY, 'prometheus') });
    expect(test.stdout).toContain('SUCCESS');
  });

  it('parses every expression of the dashboard', async () => {
    const dir = await tempDir();
    try {
      const exprs = await dashboardExprs();
      const rules = join(dir, 'dashboard-rules.yml');
      // YAML is a superset of JSON: each expression becomes a recording rule promtool parses.
      await writeFile(rules, JSON.stringify({ groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:expr_${i}`, expr })) }] }));
      const check = await run(PROMTOOL as string, ['check', 'rules', rules]);
      expect(check.stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
    } finally {
      await removeDir(dir);
    }
  });
});
