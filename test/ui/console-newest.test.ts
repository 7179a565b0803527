/**
 * The newest footage, in real Chromium against a real Vigil recording a real RTSP camera:
 * - the live picture's clock is the frame's time on the recording's time mapping, not the browser's
 *   clock (a browser whose clock is two hours fast still shows the true time);
 * - the segment being written is reviewable: a moment a few seconds ago, inside a 60 s segment that
 *   has no catalog row yet, plays, and playback goes on with footage recorded after the click.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { startVigil, waitFor, type TestVigil } from '../support/harness.js';
import { readCatalog } from '../support/footage.js';
import { buildWeb, closeUiTest, launchChromium, login, screenshot, watchConsole } from './support.js';

/** The browser's clock runs this far ahead of the true time. */
const SKEW_MS = 2 * 3600_000;

describe('operator console: the newest footage', () => {
  let cams: RtspServer;
  let vigil: TestVigil;
  let browser: Browser;
  let skewed: BrowserContext;
  let plain: BrowserContext;
  const problems: string[] = [];

  const wallMs = async (p: Page, sel: string) => Number((await p.locator(sel).getAttribute('data-wall-ms')) ?? NaN);

  beforeAll(async () => {
    const built = buildWeb();
    cams = await RtspServer.start({ mounts: [{ name: 'cam' }] });
    vigil = await startVigil({ cameras: [{ id: 'cam', name: 'Yard', main_url: cams.url('cam'), segment_seconds: 60 }] });
    browser = await launchChromium();
    await built;
    await waitFor('recording', async () => ((await (await vigil.api('/cameras/cam/status')).json()) as { state: string }).state === 'recording', 30_000, 200);
    skewed = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 1366, height: 768 } });
    await skewed.addInitScript((skew: number) => {
      const RealDate = Date;
      const realNow = RealDate.now.bind(RealDate);
      class SkewedDate extends RealDate {
        constructor(...args: unknown[]) {
          if (args.length === 0) super(realNow() + skew);
          else super(...(args as [number]));
        }
        static override now(): number {
          return realNow() + skew;
        }
      }
      (globalThis as { Date: DateConstructor }).Date = SkewedDate as DateConstructor;
    }, SKEW_MS);
    plain = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 1366, height: 768 } });
  }, 90_000);

  afterAll(async () => {
    await skewed?.close();
    await closeUiTest({ context: plain, browser, vigil, cameras: cams });
  });

  it('shows the frame\'s own time in live view, whatever the browser\'s clock says', async () => {
    const page = await skewed.newPage();
    problems.push(...watchConsole(page));
    await login(page, vigil);
    expect(await page.evaluate(() => Date.now())).toBeGreaterThan(Date.now() + SKEW_MS - 60_000);
    await page.goto(`${vigil.app.url}/#/cameras/cam`);
    await expect.poll(() => page.locator('.camera-page').getAttribute('data-mode'), { timeout: 15_000 }).toBe('live');
    await expect.poll(() => wallMs(page, '.clock'), { timeout: 20_000 }).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) {
      // The frame on screen was captured a moment ago (a GOP of latency at most, and the poll).
      const shown = await wallMs(page, '.clock');
      const now = Date.now();
      expect(shown).toBeLessThanOrEqual(now + 200);
      expect(shown).toBeGreaterThan(now - 5000);
      await page.waitForTimeout(700);
    }
    // The wall of tiles too.
    await page.goto(`${vigil.app.url}/#/`);
    const tileClock = 'li.tile[data-camera-id="cam"] .tile-clock';
    await expect.poll(() => wallMs(page, tileClock), { timeout: 20_000 }).toBeGreaterThan(0);
    const shown = await wallMs(page, tileClock);
    expect(Math.abs(Date.now() - shown)).toBeLessThan(5000);
    await page.close();
  }, 90_000);

  it('plays a moment inside the segment being written, and goes on with footage recorded after the click', async () => {
    const page = await plain.newPage();
    problems.push(...watchConsole(page));
    await login(page, vigil);
    // The first 60 s segment is still open: no row holds this footage yet.
    await waitFor('10 s recorded', async () => {
      const st = (await (await vigil.api('/cameras/cam/status')).json()) as { last_frame_at: string | null };
      return st.last_frame_at !== null && Date.parse(st.last_frame_at) - Date.now() > -3000 && readCatalog(vigil.dataDir).segments.length === 0;
    }, 20_000, 200);
    await new Promise((r) => setTimeout(r, 6000));
    expect(readCatalog(vigil.dataDir).segments).toHaveLength(0);
    const clickedAt = Date.now();
    const atMs = clickedAt - 4000;
    await page.goto(`${vigil.app.url}/#/cameras/cam?t=${new Date(atMs).toISOString()}`);
    const camPage = page.locator('.camera-page');
    await expect.poll(() => camPage.getAttribute('data-mode'), { timeout: 15_000 }).toBe('recorded');
    await expect.poll(() => wallMs(page, '.clock'), { timeout: 15_000 }).toBeGreaterThan(atMs);
    expect(await page.locator('.player-note').textContent()).not.toMatch(/No recording/);
    expect(Math.abs((await wallMs(page, '.clock')) - atMs)).toBeLessThan(3000);
    // At 1× it stays about 4 s behind live: past what existed at the click, it plays footage recorded since.
    await expect.poll(() => wallMs(page, '.clock'), { timeout: 30_000, interval: 500 }).toBeGreaterThan(clickedAt + 5000);
    expect(await camPage.getAttribute('data-mode')).toBe('recorded');
    // The timeline draws the footage being recorded as recorded, up to about now.
    const st = (await (await vigil.api(`/cameras/cam/timeline?from=${new Date(clickedAt - 60_000).toISOString()}&to=${new Date().toISOString()}`)).json()) as {
      spans: Array<{ start: string; end: string }>;
      recording: { start: string; end: string } | null;
    };
    expect(st.spans).toHaveLength(0);
    expect(Date.now() - Date.parse(st.recording!.end)).toBeLessThan(4000);
    expect(Date.parse(st.recording!.start)).toBeLessThan(atMs);
    await expect.poll(() => page.locator('.tl-span').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await screenshot(page, 'console-newest-open-segment-review-1366x768');
    await page.close();
    expect(problems).toEqual([]);
  }, 90_000);
});
