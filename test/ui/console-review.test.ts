import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { join } from 'node:path';
import { appendPicturelessSample } from '../support/aud-sample.js';
import { readCatalog } from '../support/footage.js';
import { startVigil, waitFor, type TestVigil } from '../support/harness.js';
import { buildWeb, closeUiTest, launchChromium, screenshot, signedInPage } from './support.js';

type Status = { state: string; segments_written: number };
type Timeline = { spans: { start: string; end: string }[]; gaps: { gap_start: string; gap_end: string }[] };

/**
 * Review that never stops, in real Chromium against a real Vigil recording a real RTSP camera:
 * playback clicked 15 s back plays on across files and playlists past the click + 30 s, announces the
 * gap it skips, and once it has played the newest footage hands over to live without a click.
 */
/** Where the page's video stands: what a failure needs to tell a stalled player from a missed announcement. */
const videoState = (page: Page) =>
  page.evaluate(() => {
    const v = document.querySelector<HTMLVideoElement>('.camera-page video');
    if (!v) return null;
    const buffered = Array.from({ length: v.buffered.length }, (_, i) => [v.buffered.start(i), v.buffered.end(i)]);
    return { currentTime: v.currentTime, paused: v.paused, ended: v.ended, readyState: v.readyState, networkState: v.networkState, buffered, error: v.error?.message ?? null };
  });

describe('operator console: review that never stops', () => {
  let cams: RtspServer;
  let vigil: TestVigil;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  const warnings: string[] = [];

  const status = async () => (await (await vigil.api('/cameras/cam/status')).json()) as Status;
  const timeline = async () => (await (await vigil.api('/cameras/cam/timeline')).json()) as Timeline;

  beforeAll(async () => {
    const built = buildWeb();
    cams = await RtspServer.start({ mounts: [{ name: 'cam' }] });
    vigil = await startVigil({
      cameras: [{ id: 'cam', name: 'Lobby', main_url: cams.url('cam'), segment_seconds: 2 }],
      // A freeze past 4 s ends the run at its last frame: a gap in the recording until the camera sends again.
      recorder: { freeze_seconds: 4 },
    });
    browser = await launchChromium();
    await built;
    await waitFor('recording', async () => (await status()).segments_written >= 4, 60_000, 500);
    await cams.freeze('cam', true);
    // `stalled` comes first (3 s, ffmpeg still running); the silence watch's stop is what leaves a gap.
    await waitFor('the run stopped', async () => ['offline', 'connecting'].includes((await status()).state), 20_000, 250);
    await cams.freeze('cam', false);
    await waitFor('a gap between two spans', async () => {
      const t = await timeline();
      return t.gaps.length === 1 && t.spans.length === 2 && Date.parse(t.spans[1]!.end) - Date.parse(t.spans[1]!.start) >= 4_000;
    }, 60_000, 500);
    // Footage recorded before the recorder dropped access unit delimiters ended such a run with a 6-byte
    // sample holding no picture, which Chrome refuses to decode: the file before the gap gets one, as then.
    const gapStartMs = Date.parse((await timeline()).gaps[0]!.gap_start);
    const beforeGap = readCatalog(vigil.dataDir).segments.filter((s) => s.camera_id === 'cam' && s.end_ms <= gapStartMs + 1000).at(-1)!;
    await appendPicturelessSample(join(vigil.dataDir, beforeGap.path));
    ({ context, page, problems } = await signedInPage(browser, vigil));
    page.on('console', (m) => void (m.type() === 'warning' && warnings.push(m.text())));
  }, 150_000);

  afterAll(() => closeUiTest({ context, browser, vigil, cameras: cams }));

  it('plays on past the click + 30 s across files and a gap (announced), then goes live at the newest footage', async () => {
    const gap = (await timeline()).gaps[0]!;
    const clickMs = Date.parse(gap.gap_start) - 5_000;
    await page.goto(`${vigil.app.url}/#/cameras/cam?t=${new Date(clickMs).toISOString()}`);
    const camPage = page.locator('.camera-page');
    await expect.poll(() => camPage.getAttribute('data-mode'), { timeout: 15_000 }).toBe('recorded');
    const clock = page.getByLabel('Time of the frame on screen');
    const wallMs = async () => Number((await clock.getAttribute('data-wall-ms')) ?? NaN);
    await expect.poll(wallMs, { timeout: 20_000 }).toBeGreaterThanOrEqual(clickMs - 1000);
    expect(await wallMs()).toBeLessThan(clickMs + 5_000);

    // The gap is skipped and said so, with its bounds.
    const message = page.locator('.camera-page > .message');
    try {
      await expect.poll(() => message.textContent(), { timeout: 60_000 }).toMatch(/^No recording \d{2}:\d{2}:\d{2}–\d{2}:\d{2}:\d{2} \(skipped\)$/);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nvideo: ${JSON.stringify(await videoState(page))}\ngap: ${JSON.stringify(gap)}, click ${new Date(clickMs).toISOString()}`);
    }
    // The undecodable sample before the gap was stepped over, not stopped at.
    const skips = warnings.filter((w) => w.startsWith('recorded: footage at'));
    expect(skips.length).toBeGreaterThanOrEqual(1);
    expect(skips.length).toBeLessThanOrEqual(2);
    // The message is set as the skip starts; the frame clock follows as the footage after the gap plays
    // (4 ms later, measured): read together, the clock could still show the last frame before the gap.
    await expect.poll(wallMs, { timeout: 2_000 }).toBeGreaterThanOrEqual(Date.parse(gap.gap_end) - 1000);

    // Past the footage that existed at the click (the first playlist ended there), still reviewing.
    await expect.poll(wallMs, { timeout: 90_000, interval: 500 }).toBeGreaterThan(clickMs + 30_000);
    expect(await camPage.getAttribute('data-mode')).toBe('recorded');
    await screenshot(page, 'console-review-past-click-1366x768');

    // Faster than real time it catches up with the newest footage and goes live by itself.
    await page.getByLabel('Playback speed').selectOption('4');
    await expect.poll(() => camPage.getAttribute('data-mode'), { timeout: 90_000, interval: 500 }).toBe('live');
    expect(await message.textContent()).toBe('Reached the newest recording: now live.');
    await expect.poll(() => page.locator('.overlay .mode').textContent(), { timeout: 10_000 }).toBe('LIVE');
    await expect.poll(wallMs, { timeout: 20_000 }).toBeGreaterThan(Date.now() - 10_000);
    await screenshot(page, 'console-review-handed-to-live-1366x768');
    expect(problems).toEqual([]);
  }, 240_000);

  it('a gap that opens after the click is announced and skipped as playback goes on past the first playlist', async () => {
    // The camera stops sending and its run ends: the newest footage ends at the start of a new gap.
    await cams.freeze('cam', true);
    await waitFor('the run stopped', async () => ['offline', 'connecting'].includes((await status()).state), 20_000, 250);
    const newestEnd = Date.parse((await timeline()).spans.at(-1)!.end);
    const clickMs = newestEnd - 12_000;
    await page.goto(`${vigil.app.url}/#/cameras/cam?t=${new Date(clickMs).toISOString()}`);
    const camPage = page.locator('.camera-page');
    await expect.poll(() => camPage.getAttribute('data-mode'), { timeout: 15_000 }).toBe('recorded');
    const clock = page.getByLabel('Time of the frame on screen');
    const wallMs = async () => Number((await clock.getAttribute('data-wall-ms')) ?? NaN);
    await expect.poll(wallMs, { timeout: 20_000 }).toBeGreaterThanOrEqual(clickMs - 1000);
    // Its first playlist ends where the footage ended; the camera comes back while it plays.
    await cams.freeze('cam', false);
    const message = page.locator('.camera-page > .message');
    await expect.poll(() => message.textContent(), { timeout: 40_000 }).toMatch(/^No recording \d{2}:\d{2}:\d{2}–\d{2}:\d{2}:\d{2} \(skipped\)$/);
    const gap = (await timeline()).gaps.at(-1)!;
    expect(Date.parse(gap.gap_start)).toBeGreaterThanOrEqual(newestEnd - 1000);
    await expect.poll(wallMs, { timeout: 5_000 }).toBeGreaterThanOrEqual(Date.parse(gap.gap_end) - 1000);
    expect(problems).toEqual([]);
  }, 120_000);
});
