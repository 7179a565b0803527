/**
 * Synchronized review of four cameras, measured in headless Chromium against an in-process Vigil recording
 * four real RTSP cameras (the *Views* page, 2×2):
 * - synchronized start: from the *Go* to a recorded instant until every tile has presented a frame of it,
 *   playing in step (requestVideoFrameCallback on all four), p50/p95;
 * - spread: the largest difference between the four tiles' wall-clock instants, sampled every 250 ms for
 *   3 s after the start (goal: within one frame interval, 66.7 ms at 15 fps).
 * Standalone: `node --import tsx bench/ui-views.ts [--samples N]` (section `ui-views` for bench/run.ts).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { RtspServer } from '../src/demo/rtsp-server.js';
import { removeDir, startVigil, waitFor } from '../test/support/harness.js';
import { buildWeb, launchChromium, login } from '../test/ui/support.js';
import { percentile } from './proc.js';
import { check, fmt, goal, renderTable, type SectionResult } from './report.js';

export interface UiViewsOptions {
  samples: number;
  log: (msg: string) => void;
}

const CAMS = ['v1', 'v2', 'v3', 'v4'];
const FPS = 15;
const FRAME_MS = 1000 / FPS;

export async function runUiViews(o: UiViewsOptions): Promise<SectionResult[]> {
  await buildWeb();
  const server = await RtspServer.start({ mounts: CAMS.map((name) => ({ name, width: 640, height: 360, fps: FPS })) });
  const vigil = await startVigil({ cameras: CAMS.map((id) => ({ id, name: id, main_url: server.url(id), segment_seconds: 2 })) });
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 }, timezoneId: 'UTC' })).newPage();
    await login(page, vigil);
    const spanOf = async (id: string) => ((await (await vigil.api(`/cameras/${id}/timeline`)).json()) as { spans: { start: string; end: string }[] }).spans[0];
    await waitFor('40 s of footage on every camera', async () => {
      for (const id of CAMS) {
        const s = await spanOf(id);
        if (!s || Date.parse(s.end) - Date.parse(s.start) < 40_000) return undefined;
      }
      return true;
    }, 120_000, 1000);

    const starts: number[] = [];
    const spreads: number[] = [];
    for (let i = 0; i < o.samples; i++) {
      let lo = 0;
      let hi = Infinity;
      for (const id of CAMS) {
        const s = (await spanOf(id))!;
        lo = Math.max(lo, Date.parse(s.start) + 2_000);
        hi = Math.min(hi, Date.parse(s.end) - 15_000);
      }
      const at = Math.floor((lo + Math.random() * Math.max(0, hi - lo)) / 1000) * 1000;
      const r = await syncedStart(page, vigil.app.url, at);
      starts.push(r.startMs);
      spreads.push(...r.spreadsMs);
      o.log(`  views ${i + 1}/${o.samples}: synchronized start ${r.startMs.toFixed(0)} ms, spread max ${Math.max(...r.spreadsMs).toFixed(1)} ms`);
    }
    const sp50 = percentile(starts, 50);
    const sp95 = percentile(starts, 95);
    const spreadP95 = percentile(spreads, 95);
    return [{
      name: 'ui-views',
      rows: [
        { figure: `four-camera synchronized start p50 (${o.samples} starts, Chromium)`, value: fmt.ms(sp50) },
        { figure: 'four-camera synchronized start p95', value: fmt.ms(sp95) },
        { figure: 'four tiles\' instants: spread p95 / max', value: `${spreadP95.toFixed(1)} ms / ${Math.max(...spreads).toFixed(1)} ms`, goal: goal(`≤ ${FRAME_MS.toFixed(1)} ms (1 frame)`, check(spreadP95, (v) => v <= FRAME_MS)) },
      ],
      data: { syncedStartMs: starts, spreadMs: spreads, cameras: CAMS.length, fps: FPS },
    }];
  } finally {
    await browser.close();
    await vigil.app.stop();
    await server.stop();
    await removeDir(vigil.dataDir);
  }
}

/** Opens the 2×2 view, goes to `atMs`, and times Go → a new frame presented on all four tiles. */
async function syncedStart(page: Page, url: string, atMs: number): Promise<{ startMs: number; spreadsMs: number[] }> {
  await page.goto(`${url}/#/events`);
  await page.goto(`${url}/#/views`);
  await page.getByRole('radio', { name: '4 cameras' }).click();
  await page.locator('.wall-tile video').nth(3).waitFor();
  await page.getByLabel('Date and time to go to').fill(new Date(atMs).toISOString().slice(0, 19));
  const t0 = page.evaluate(() => new Promise<number>((resolve) => {
    document.addEventListener('submit', () => resolve(performance.now()), { capture: true, once: true });
  }));
  await page.waitForTimeout(50);
  await page.getByRole('button', { name: 'Go', exact: true }).click();
  const start = await t0;
  const allPresented = await page.evaluate(async () => {
    const wall = document.querySelector<HTMLElement>('.wall-page')!;
    while (wall.dataset.synced !== 'true') await new Promise((r) => setTimeout(r, 5));
    const videos = [...document.querySelectorAll<HTMLVideoElement>('.wall-tile video')];
    const times = await Promise.all(videos.map((v) => new Promise<number>((r) => v.requestVideoFrameCallback(() => r(performance.now())))));
    return Math.max(...times);
  });
  const spreadsMs: number[] = [];
  for (let i = 0; i < 12; i++) {
    await page.waitForTimeout(250);
    const walls = await page.locator('.wall-tile').evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.wallMs)));
    if (walls.every((w) => Number.isFinite(w) && w > 0)) spreadsMs.push(Math.max(...walls) - Math.min(...walls));
  }
  return { startMs: allPresented - start, spreadsMs };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { samples: { type: 'string', default: '10' } } });
  const sections = await runUiViews({ samples: Number(values.samples), log: (m) => void process.stderr.write(`${m}\n`) });
  process.stdout.write(renderTable(sections) + '\n');
  process.exit(0);
}
