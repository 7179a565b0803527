/**
 * Sound in the console, in real Chromium against a real Vigil recording real RTSP cameras, one with
 * AAC audio and one without: the pages play muted; the camera with audio gets a speaker button per
 * tile (and on its page, live and recorded) that unmutes its video and mutes it again, the picture
 * still playing; the camera without audio gets none. The live MSE type names both codecs and Chromium
 * plays it (the video's time moves on with the audio track in the SourceBuffer).
 */
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { readCatalog } from '../support/footage.js';
import { startVigil, waitFor, type TestVigil } from '../support/harness.js';
import { buildWeb, closeUiTest, launchChromium, login, watchConsole } from './support.js';

describe('operator console: sound', () => {
  let cams: RtspServer;
  let vigil: TestVigil;
  let browser: Browser;
  let context: BrowserContext;
  const problems: string[] = [];
  /** When the camera's audio stopped for 8 s (the live test below), so the recording has a hole in its audio. */
  let audioHoleFromMs = 0;

  beforeAll(async () => {
    const built = buildWeb();
    cams = await RtspServer.start({ mounts: [{ name: 'talk', audio: 'aac' }, { name: 'mute' }] });
    vigil = await startVigil({
      cameras: [
        { id: 'talk', name: 'Porch', main_url: cams.url('talk'), segment_seconds: 4 },
        { id: 'mute', name: 'Gate', main_url: cams.url('mute'), segment_seconds: 4 },
      ],
    });
    browser = await launchChromium();
    await built;
    await waitFor('two segments of each camera', () => {
      const s = readCatalog(vigil.dataDir).segments;
      return (s.filter((x) => x.camera_id === 'talk').length >= 2 && s.filter((x) => x.camera_id === 'mute').length >= 2) || undefined;
    }, 60_000, 250);
    context = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 1366, height: 768 } });
  }, 120_000);

  afterAll(async () => {
    await closeUiTest({ context, browser, vigil, cameras: cams });
  });

  it('gives the tile of a camera with audio a speaker button that unmutes and mutes it; none to a camera without', async () => {
    const page = await context.newPage();
    problems.push(...watchConsole(page));
    await login(page, vigil);
    await page.goto(`${vigil.app.url}/#/`);
    const talk = page.locator('li.tile[data-camera-id="talk"]');
    const mute = page.locator('li.tile[data-camera-id="mute"]');
    const button = talk.getByRole('button', { name: 'Unmute Porch' });
    await expect.poll(() => button.isVisible(), { timeout: 20_000 }).toBe(true);
    // Playing, muted by default.
    await expect.poll(() => talk.locator('video').evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 20_000 }).toBeGreaterThan(0);
    expect(await talk.locator('video').evaluate((v: HTMLVideoElement) => v.muted)).toBe(true);
    await button.click();
    // The click toggles the sound only: the page stays on the grid.
    expect(page.url()).toMatch(/#\/$/);
    const unmuted = talk.getByRole('button', { name: 'Mute Porch' });
    await expect.poll(() => unmuted.getAttribute('aria-pressed'), { timeout: 10_000 }).toBe('true');
    expect(await talk.locator('video').evaluate((v: HTMLVideoElement) => v.muted)).toBe(false);
    // Still playing, with sound.
    const t0 = await talk.locator('video').evaluate((v: HTMLVideoElement) => v.currentTime);
    await expect.poll(() => talk.locator('video').evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 10_000 }).toBeGreaterThan(t0 + 1);
    await unmuted.click();
    expect(await talk.locator('video').evaluate((v: HTMLVideoElement) => v.muted)).toBe(true);
    // The camera without audio plays, with no speaker button.
    await expect.poll(() => mute.locator('video').evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 20_000 }).toBeGreaterThan(0);
    expect(await mute.locator('button.speaker').isVisible()).toBe(false);
    await page.close();
  });

  it('has the speaker button on the camera page, live and recorded', async () => {
    const own = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 1366, height: 768 } });
    const page = await own.newPage();
    problems.push(...watchConsole(page));
    await login(page, vigil);
    await page.goto(`${vigil.app.url}/#/cameras/talk`);
    await expect.poll(() => page.locator('.camera-page').getAttribute('data-mode'), { timeout: 15_000 }).toBe('live');
    const button = page.getByRole('button', { name: 'Unmute the camera' });
    await expect.poll(() => button.isVisible(), { timeout: 20_000 }).toBe(true);
    await button.click();
    expect(await page.locator('.player video').evaluate((v: HTMLVideoElement) => v.muted)).toBe(false);
    // Recorded: a moment of the first segment, played through HLS.
    const first = readCatalog(vigil.dataDir).segments.find((s) => s.camera_id === 'talk');
    expect(first).toBeDefined();
    await page.goto(`${vigil.app.url}/#/cameras/talk?t=${new Date((first?.start_ms ?? 0) + 1000).toISOString()}`);
    await expect.poll(() => page.locator('.camera-page').getAttribute('data-mode'), { timeout: 15_000 }).toBe('recorded');
    // The recorded footage has audio too: the button stays (the sound as the operator left it), and mutes it.
    await expect.poll(() => page.locator('.player video').evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 20_000 }).toBeGreaterThan(0);
    const mute = page.getByRole('button', { name: 'Mute the camera' });
    await expect.poll(() => mute.isVisible(), { timeout: 20_000 }).toBe(true);
    await mute.click();
    expect(await page.locator('.player video').evaluate((v: HTMLVideoElement) => v.muted)).toBe(true);
    await expect.poll(() => page.getByRole('button', { name: 'Unmute the camera' }).getAttribute('aria-pressed'), { timeout: 10_000 }).toBe('false');
    await own.close();
  });

  it('keeps the live picture moving when the camera\'s audio stops (and when it comes back)', async () => {
    const own = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 1366, height: 768 } });
    const page = await own.newPage();
    problems.push(...watchConsole(page));
    await login(page, vigil);
    await page.goto(`${vigil.app.url}/#/cameras/talk`);
    const video = page.locator('.player video');
    const time = () => video.evaluate((v: HTMLVideoElement) => v.currentTime);
    await expect.poll(time, { timeout: 20_000 }).toBeGreaterThan(1);
    audioHoleFromMs = Date.now();
    await cams.setAudio('talk', 'drop');
    try {
      // 8 s without audio: the picture plays on (a SourceBuffer plays only what every track has buffered).
      const t0 = await time();
      await page.waitForTimeout(8_000);
      expect(await time()).toBeGreaterThan(t0 + 5);
      // It plays the video alone now: no sound to offer.
      expect(await page.locator('.player-controls button.speaker').isVisible()).toBe(false);
    } finally {
      await cams.setAudio('talk', 'ok');
    }
    const t1 = await time();
    await page.waitForTimeout(4_000);
    expect(await time()).toBeGreaterThan(t1 + 2);
    await own.close();
  });

  it('plays the recording through the hole in its audio', async () => {
    expect(audioHoleFromMs).toBeGreaterThan(0);
    // The footage of the hole indexed (4 s files): a few seconds after the audio came back.
    await waitFor('the hole recorded', () => readCatalog(vigil.dataDir).segments.some((s) => s.camera_id === 'talk' && s.start_ms > audioHoleFromMs + 8_000) || undefined, 30_000, 250);
    const own = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 1366, height: 768 } });
    const page = await own.newPage();
    problems.push(...watchConsole(page));
    await login(page, vigil);
    await page.goto(`${vigil.app.url}/#/cameras/talk?t=${new Date(audioHoleFromMs - 3_000).toISOString()}`);
    // The instant of the footage on the picture (the page's clock): the video element's own time
    // starts again at each playlist the player goes on with (review never stops at a playlist's end).
    const shownMs = async () => Number((await page.locator('.clock').getAttribute('data-wall-ms')) ?? NaN);
    await expect.poll(shownMs, { timeout: 20_000 }).toBeGreaterThan(0);
    const t0 = await shownMs();
    expect(t0).toBeLessThan(audioHoleFromMs);
    await page.waitForTimeout(12_000);
    // From 3 s before the audio stopped, through its 8 s without audio, and on.
    expect(await shownMs()).toBeGreaterThan(t0 + 9_000);
    await own.close();
  });

  it('logged no page errors', () => {
    expect(problems).toEqual([]);
  });
});
