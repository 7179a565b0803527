/**
 * An H.265 camera in a Chromium whose Media Source Extensions cannot decode HEVC (Debian's chromium:
 * `MediaSource.isTypeSupported('video/mp4; codecs="hvc1…"')` is false, checked below): the page says
 * so, live and recorded, on the camera page and on its grid tile, and on a click plays the H.264
 * preview transcode, labelled as a preview.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { readCatalog, type SegRow } from '../support/footage.js';
import { startVigil, waitFor, type TestVigil } from '../support/harness.js';
import { buildWeb, closeUiTest, launchChromium, screenshot, signedInPage } from './support.js';

const POLL = { timeout: 20_000, interval: 200 };

/** The page's <video> plays: a decoded picture of `width`×`height` whose time moves on. */
async function playing(page: Page, selector: string): Promise<{ width: number; height: number; advanced: boolean }> {
  const video = page.locator(selector);
  const t0 = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
  await page.waitForTimeout(1500);
  return video.evaluate((v: HTMLVideoElement, start: number) => ({ width: v.videoWidth, height: v.videoHeight, advanced: v.readyState >= 2 && v.currentTime > start }), t0);
}

describe('operator console: an H.265 camera in a browser without HEVC', () => {
  let cams: RtspServer;
  let vigil: TestVigil;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    const built = buildWeb();
    cams = await RtspServer.start({ mounts: [{ name: 'cam', codec: 'h265' }] });
    vigil = await startVigil({ cameras: [{ id: 'cam', name: 'Gate', main_url: cams.url('cam'), segment_seconds: 2 }] });
    browser = await launchChromium();
    await built;
    await waitFor('6 s of footage', () => {
      const list = readCatalog(vigil.dataDir).segments;
      return list.length > 0 && (list.at(-1) as SegRow).end_ms - (list[0] as SegRow).start_ms >= 6_000;
    }, 45_000, 250);
    ({ context, page, problems } = await signedInPage(browser, vigil));
  }, 120_000);

  afterAll(async () => {
    await closeUiTest({ context, browser, vigil, cameras: cams });
  });

  it('this Chromium cannot play hvc1 in MSE (so the page must take the preview path)', async () => {
    const supported = await page.evaluate(() => [MediaSource.isTypeSupported('video/mp4; codecs="hvc1.1.6.L90.90"'), MediaSource.isTypeSupported('video/mp4; codecs="avc1.42c01e"')]);
    expect(supported).toEqual([false, true]);
  });

  it('live: says the browser cannot play H.265 and plays the H.264 preview, labelled', async () => {
    await page.goto(`${vigil.app.url}/#/cameras/cam`);
    const offer = page.locator('.camera-page .preview-offer');
    await expect.poll(async () => (await offer.isVisible()) && (await offer.textContent()), POLL).toMatch(/This browser cannot play H\.265 \(hvc1\.1\.6\.L\d+/);
    await page.getByRole('button', { name: 'Play H.264 preview (360p transcode)' }).click();
    await expect.poll(() => page.locator('.camera-page').getAttribute('data-preview'), POLL).toBe('live');
    await expect.poll(() => page.locator('.camera-page .preview-label').isVisible(), POLL).toBe(true);
    expect(await page.locator('.camera-page .preview-label').textContent()).toContain('PREVIEW · H.264 360p transcode, not the original');
    expect(await page.locator('.camera-page .mode').textContent()).toBe('LIVE · PREVIEW');
    await expect.poll(() => playing(page, '.camera-page video'), POLL).toEqual({ width: 640, height: 360, advanced: true });
    // The picture comes from the preview route, not the live WebSocket.
    expect(await page.locator('.camera-page video').evaluate((v: HTMLVideoElement) => v.currentSrc)).toContain('/api/v1/cameras/cam/live/preview.mp4');
    await screenshot(page, 'console-h265-live-preview');
    // Chosen once, the preview goes on where the page plays the camera: 10 s back is a recorded preview …
    const before = Date.now();
    await page.getByRole('button', { name: '−10 s', exact: true }).click();
    await expect.poll(() => page.locator('.camera-page').getAttribute('data-preview'), POLL).toBe('recorded');
    expect(await page.locator('.camera-page .mode').textContent()).toBe('RECORDED · PREVIEW');
    expect(await offer.isVisible()).toBe(false);
    await expect.poll(() => playing(page, '.camera-page video'), POLL).toEqual({ width: 640, height: 360, advanced: true });
    const src = decodeURIComponent(await page.locator('.camera-page video').evaluate((v: HTMLVideoElement) => v.currentSrc));
    const fromMs = Date.parse(/from=([^&]+)/.exec(src)?.[1] ?? '');
    expect(Math.abs(fromMs - (before - 10_000))).toBeLessThanOrEqual(3_000);
    // … and back to live is the live preview, with no second question.
    await page.getByRole('button', { name: 'Go live' }).click();
    await expect.poll(() => page.locator('.camera-page').getAttribute('data-preview'), POLL).toBe('live');
    expect(await offer.isVisible()).toBe(false);
    await expect.poll(() => playing(page, '.camera-page video'), POLL).toEqual({ width: 640, height: 360, advanced: true });
    // The recorder restarts (a new segment length): the preview's stream ends, and the page asks again.
    let asked = 0;
    page.on('request', (r) => {
      if (r.url().includes('/live/preview.mp4')) asked++;
    });
    const res = await vigil.api('/cameras/cam', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"segment_seconds":3}' });
    expect(res.status).toBe(200);
    await expect.poll(() => asked, POLL).toBeGreaterThanOrEqual(1);
    await expect.poll(() => playing(page, '.camera-page video'), POLL).toEqual({ width: 640, height: 360, advanced: true });
    expect(await page.locator('.camera-page').getAttribute('data-preview')).toBe('live');
  });

  it('recorded: the same offer for stored footage, and the preview plays from the instant asked', async () => {
    const segs = readCatalog(vigil.dataDir).segments.filter((s) => s.camera_id === 'cam');
    const atMs = (segs[1] as SegRow).start_ms + 500;
    await page.goto(`${vigil.app.url}/#/cameras/cam?t=${new Date(atMs).toISOString()}`);
    await page.reload();
    const offer = page.locator('.camera-page .preview-offer');
    await expect.poll(async () => (await offer.isVisible()) && (await offer.textContent()), POLL).toMatch(/This browser cannot play H\.265 \(hvc1\./);
    await page.getByRole('button', { name: 'Play H.264 preview (360p transcode)' }).click();
    await expect.poll(() => page.locator('.camera-page').getAttribute('data-preview'), POLL).toBe('recorded');
    expect(await page.locator('.camera-page .mode').textContent()).toBe('RECORDED · PREVIEW');
    await expect.poll(() => playing(page, '.camera-page video'), POLL).toEqual({ width: 640, height: 360, advanced: true });
    const src = await page.locator('.camera-page video').evaluate((v: HTMLVideoElement) => v.currentSrc);
    expect(decodeURIComponent(src)).toContain(`/api/v1/cameras/cam/playback/preview.mp4?from=${new Date(atMs).toISOString()}`);
    expect(await page.locator('.camera-page .preview-label').isVisible()).toBe(true);
    // "Go live": the live stream cannot play either, and the preview was chosen on this page: live preview.
    await page.getByRole('button', { name: 'Go live' }).click();
    await expect.poll(() => page.locator('.camera-page .mode').textContent(), POLL).toBe('LIVE · PREVIEW');
    expect(await page.locator('.camera-page').getAttribute('data-preview')).toBe('live');
  });

  it('grid: the tile says so and plays the preview in place, without opening the camera', async () => {
    await page.goto(`${vigil.app.url}/#/`);
    const tile = page.locator('.tile[data-camera-id="cam"]');
    await expect.poll(() => tile.locator('.preview-offer').isVisible(), POLL).toBe(true);
    expect(await tile.locator('.preview-offer').textContent()).toMatch(/cannot play H\.265/);
    await tile.getByRole('button', { name: 'Play H.264 preview' }).click();
    await expect.poll(() => tile.getAttribute('data-preview'), POLL).toBe('live');
    expect(page.url()).toMatch(/#\/$/);
    await expect.poll(() => tile.locator('.live-state').textContent(), POLL).toBe('PREVIEW · H.264');
    await expect.poll(() => playing(page, '.tile[data-camera-id="cam"] video'), POLL).toEqual({ width: 640, height: 360, advanced: true });
  });

  it('views (cameras in step): a tile it cannot play says so and where the preview is', async () => {
    await page.goto(`${vigil.app.url}/#/views`);
    await page.getByRole('radio', { name: '4 cameras' }).click();
    await page.getByLabel('Camera in tile 1').selectOption('cam');
    const tile = page.locator('.wall-tile[data-camera-id="cam"]');
    await expect.poll(() => tile.locator('.live-state').textContent(), POLL).toMatch(/^This browser cannot play H\.265 \(hvc1\.[^)]+\): double-click for the camera page and its H\.264 preview$/);
    expect(problems).toEqual([]);
  });
});
