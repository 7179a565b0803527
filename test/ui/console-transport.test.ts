import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { startVigil, waitFor, type TestVigil } from '../support/harness.js';
import { buildWeb, closeUiTest, launchChromium, screenshot, signedInPage } from './support.js';

type Timeline = { spans: { start: string; end: string }[] };
/** The fake camera's default frame rate: one frame step is 1/15 s. */
const FPS = 15;

/**
 * The transport bar in real Chromium against a real Vigil recording a real RTSP camera: a shared link opens
 * review at its instant, 4× plays about four seconds a second, keys step by a frame and by 10 s, `?` lists
 * the shortcuts, "Go" jumps to a typed date and time, and the calendar marks today as a day with footage.
 */
describe('operator console: transport', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  let recordedFrom = 0;

  /** The wall-clock instant of the frame on screen, as the camera page's clock carries it. */
  const wallMs = async () => {
    const v = await page.getByLabel('Time of the frame on screen').getAttribute('data-wall-ms');
    return v === null ? null : Number(v);
  };
  const playing = () => page.locator('.player video').evaluate((v: HTMLVideoElement) => !v.paused && v.readyState >= 2);
  const paused = () => page.locator('.player video').evaluate((v: HTMLVideoElement) => v.paused);
  /** The clock refreshes every 200 ms: wait until it shows the paused frame. */
  const settledWall = async () => {
    let last = await wallMs();
    for (;;) {
      await page.waitForTimeout(450);
      const now = await wallMs();
      if (now === last && now !== null) return now;
      last = now;
    }
  };

  beforeAll(async () => {
    const built = buildWeb();
    server = await RtspServer.start({ mounts: [{ name: 'cam1', fps: FPS }] });
    vigil = await startVigil({ cameras: [{ id: 'cam1', name: 'Lobby', main_url: server.url('cam1'), segment_seconds: 2 }] });
    browser = await launchChromium();
    await built;
    // 45 s of footage: review starts 35 s back, so 4× and the ±10 s steps stay inside what is recorded.
    const t = await waitFor('45 s recorded', async () => {
      const tl = (await (await vigil.api('/cameras/cam1/timeline')).json()) as Timeline;
      const s = tl.spans[0];
      return s && Date.parse(s.end) - Date.parse(s.start) >= 45_000 ? tl : undefined;
    }, 120_000, 500);
    recordedFrom = Date.parse(t.spans[0]!.start);
    ({ context, page, problems } = await signedInPage(browser, vigil));
  }, 180_000);

  afterAll(() => closeUiTest({ context, browser, vigil, cameras: server }));

  it('a shared link (camera + time) opens review at that instant, and Copy link gives the same kind of link', async () => {
    const tl = (await (await vigil.api('/cameras/cam1/timeline')).json()) as Timeline;
    const T = Math.floor((Date.parse(tl.spans[0]!.end) - 35_000) / 1000) * 1000;
    expect(T).toBeGreaterThan(recordedFrom);
    await page.goto(`${vigil.app.url}/#/cameras/cam1?t=${new Date(T).toISOString()}`);
    const first = await waitFor('review at the linked instant', async () => ((await playing()) ? wallMs() : undefined), 20_000, 200);
    expect(Math.abs(first - T)).toBeLessThanOrEqual(2_000);
    await page.getByRole('button', { name: 'Copy link' }).click();
    const link = await page.getByRole('textbox', { name: 'Link to this camera at this time' }).inputValue();
    const m = /#\/cameras\/cam1\?t=(.+)$/.exec(link);
    expect(m).not.toBeNull();
    expect(Math.abs(Date.parse(m![1]!) - T)).toBeLessThanOrEqual(5_000);
  });

  it('at 4× the frame on screen advances about four seconds per second', async () => {
    const tl = (await (await vigil.api('/cameras/cam1/timeline')).json()) as Timeline;
    const T = Date.parse(tl.spans[0]!.end) - 40_000;
    await page.goto(`${vigil.app.url}/#/cameras/cam1?t=${new Date(T).toISOString()}`);
    await waitFor('playing', async () => ((await playing()) && (await wallMs()) !== null) || undefined, 20_000, 200);
    await page.getByLabel('Playback speed').selectOption('4');
    expect(await page.locator('.player video').evaluate((v: HTMLVideoElement) => v.playbackRate)).toBe(4);
    await page.waitForTimeout(1_000);
    // Both ends measured in the page: the wall clock of the frame shown against the page's own monotonic clock.
    const sample = () => page.locator('.player video').evaluate(async () => {
      const out = document.querySelector<HTMLElement>('.clock');
      return { wall: Number(out?.dataset.wallMs), at: performance.now() };
    });
    const a = await sample();
    await page.waitForTimeout(3_000);
    const b = await sample();
    const rate = (b.wall - a.wall) / (b.at - a.at);
    expect(rate).toBeGreaterThan(2.5);
    expect(rate).toBeLessThan(6);
    // Live always plays at 1× (its own catch-up may reach 1.15×); back in review the chosen 4× holds again.
    const videoRate = () => page.locator('.player video').evaluate((v: HTMLVideoElement) => v.playbackRate);
    await page.getByRole('button', { name: 'Go live' }).click();
    await expect.poll(() => page.locator('.camera-page').getAttribute('data-mode')).toBe('live');
    await expect.poll(playing, { timeout: 15_000 }).toBe(true);
    expect(await videoRate()).toBeLessThanOrEqual(1.15);
    await page.getByLabel('Date and time to go to').fill(new Date(T).toISOString().slice(0, 19));
    await page.getByRole('button', { name: 'Go', exact: true }).click();
    await waitFor('review again', async () => ((await playing()) && (await page.locator('.camera-page').getAttribute('data-mode')) === 'recorded') || undefined, 20_000, 200);
    expect(await videoRate()).toBe(4);
    await page.getByLabel('Playback speed').selectOption('1');
  });

  it('the wheel over the picture zooms it digitally (recorded here; live alike), 1× resets', async () => {
    const player = page.locator('.player');
    await player.hover();
    // Each wheel notch zooms 1.2×: two notches.
    await page.mouse.wheel(0, -100);
    await expect.poll(async () => Number(await player.getAttribute('data-zoom'))).toBeCloseTo(1.2, 2);
    await page.mouse.wheel(0, -100);
    await expect.poll(async () => Number(await player.getAttribute('data-zoom'))).toBeCloseTo(1.44, 2);
    expect(await page.locator('.player video').evaluate((v) => getComputedStyle(v).transform)).toMatch(/^matrix\(/);
    await player.getByRole('button', { name: 'Reset zoom' }).click();
    expect(await player.getAttribute('data-zoom')).toBe('1.00');
  });

  it('keyboard: Space pauses, "." and "," step one frame, → and ← step 10 s, ? lists the shortcuts', async () => {
    const tl = (await (await vigil.api('/cameras/cam1/timeline')).json()) as Timeline;
    const T = Date.parse(tl.spans[0]!.end) - 30_000;
    await page.goto(`${vigil.app.url}/#/cameras/cam1?t=${new Date(T).toISOString()}`);
    await waitFor('playing', async () => ((await playing()) && (await wallMs()) !== null) || undefined, 20_000, 200);
    await page.locator('h1').click();
    await page.keyboard.press('Space');
    await expect.poll(paused).toBe(true);
    const p0 = await settledWall();
    await page.keyboard.press('.');
    const p1 = await settledWall();
    expect(p1 - p0).toBeGreaterThan(0);
    expect(p1 - p0).toBeLessThanOrEqual(2_000 / FPS);
    await page.keyboard.press(',');
    const p2 = await settledWall();
    expect(Math.abs(p2 - p0)).toBeLessThanOrEqual(1_000 / FPS);
    await page.keyboard.press('ArrowRight');
    const p3 = await settledWall();
    expect(Math.abs(p3 - p2 - 10_000)).toBeLessThanOrEqual(1_500);
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    const p4 = await settledWall();
    expect(Math.abs(p3 - p4 - 20_000)).toBeLessThanOrEqual(1_500);
    await page.keyboard.press('Space');
    await expect.poll(playing, { timeout: 10_000 }).toBe(true);

    await page.keyboard.press('?');
    const dialog = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await dialog.waitFor();
    expect(await dialog.textContent()).toMatch(/Play \/ pause.*Back \/ forward 10 s.*One frame back/s);
    await screenshot(page, 'camera-shortcuts-1366x768');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden' });
  });

  it('Go to a typed date and time plays that instant; the calendar marks today as a day with footage', async () => {
    await page.goto(`${vigil.app.url}/#/cameras/cam1`);
    const tl = (await (await vigil.api('/cameras/cam1/timeline')).json()) as Timeline;
    const T = Math.floor((Date.parse(tl.spans[0]!.end) - 20_000) / 1000) * 1000;
    await page.getByLabel('Date and time to go to').fill(new Date(T).toISOString().slice(0, 19));
    await page.getByRole('button', { name: 'Go', exact: true }).click();
    const first = await waitFor('review at the typed instant', async () => ((await playing()) ? wallMs() : undefined), 20_000, 200);
    expect(Math.abs(first - T)).toBeLessThanOrEqual(2_000);

    await page.getByRole('button', { name: 'Calendar' }).click();
    const today = new Date().getUTCDate();
    const day = page.locator(`.cal-day[data-day="${today}"]`);
    await expect.poll(() => day.getAttribute('class')).toContain('has-footage');
    expect(await day.getAttribute('aria-label')).toMatch(/has footage$/);
    const other = page.locator(`.cal-day:not([data-day="${today}"])`).first();
    expect(await other.getAttribute('class')).not.toContain('has-footage');
    await screenshot(page, 'camera-calendar-1366x768');
    expect(problems).toEqual([]);
  });
});
