import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import { startVigil, waitFor, type TestVigil } from '../support/harness.js';
import { buildWeb, closeUiTest, launchChromium, screenshot, signedInPage } from './support.js';

type Motion = { id: number; start: string; end: string; zones: string[] };
type Camera = { motion: { masks: number[][][]; zones: { name: string; polygon: number[][] }[]; sensitivity: number } };

/**
 * Motion on the operator page, in real Chromium against a real Vigil detecting motion on a real RTSP
 * camera: the list with thumbnails and the timeline's motion bands, a click that plays the moment,
 * N / P between motions, and the mask and zone editor saving what was drawn.
 */
describe('operator console: motion', () => {
  let cams: RtspServer;
  let vigil: TestVigil;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  let motions: Motion[] = [];

  const list = async () =>
    ((await (await vigil.api(`/cameras/door/motion?from=${new Date(Date.now() - 600_000).toISOString()}`)).json()) as { intervals: Motion[] }).intervals;

  beforeAll(async () => {
    const built = buildWeb();
    cams = await RtspServer.start({ mounts: [{ name: 'door', scene: 'still', width: 640, height: 360, fps: 10, seek: false }] });
    vigil = await startVigil({
      cameras: [{
        id: 'door', name: 'Back door', main_url: cams.url('door'), segment_seconds: 2,
        motion: { enabled: true, sensitivity: 60, min_area_percent: 0.05, post_roll_seconds: 1, masks: [[[0, 0], [0.34, 0], [0.34, 0.21], [0, 0.21]]], zones: [{ name: 'porch', polygon: [[0.5, 0.45], [1, 0.45], [1, 1], [0.5, 1]] }] },
      }],
    });
    browser = await launchChromium();
    await built;
    await waitFor('watching', async () => ((await (await vigil.api('/cameras/door/status')).json()) as { motion_state: string }).motion_state === 'watching', 30_000, 250);
    // Two motions 6 s apart, each 3 s long.
    for (let i = 0; i < 2; i++) {
      await cams.moveObject('door', true);
      await sleep(3000);
      await cams.moveObject('door', false);
      await sleep(6000);
    }
    let seen: Motion[] = [];
    motions = await waitFor('two intervals', async () => {
      seen = await list();
      return seen.length === 2 ? seen : undefined;
    }, 20_000, 250).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(seen)}`);
    });
    // Their footage indexed (2 s segments) before the page plays them.
    await sleep(3000);
    ({ context, page, problems } = await signedInPage(browser, vigil));
  }, 150_000);

  afterAll(() => closeUiTest({ context, browser, vigil, cameras: cams }));

  it('lists the motions with thumbnails and bands on the timeline; a click plays the moment, N and P step between them', async () => {
    await page.goto(`${vigil.app.url}/#/cameras/door`);
    const items = page.locator('.motion-list li');
    await expect.poll(() => items.count(), { timeout: 15_000 }).toBe(2);
    await expect.poll(() => page.locator('.tl-motion').count()).toBe(2);
    // Newest first, each with its peak frame.
    expect(await items.evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.startMs)))).toEqual(motions.map((m) => Date.parse(m.start)).reverse());
    await expect.poll(() => items.locator('img').evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth))).toEqual([160, 160]);
    await screenshot(page, 'console-motion-list-1366x768');

    const clock = page.getByLabel('Time of the frame on screen');
    const wallMs = async () => Number((await clock.getAttribute('data-wall-ms')) ?? NaN);
    const [first, second] = motions.map((m) => Date.parse(m.start));
    // The older one: played from 2 s before it.
    await items.nth(1).getByRole('button').click();
    await expect.poll(() => page.locator('.camera-page').getAttribute('data-mode')).toBe('recorded');
    const near = async (ms: number) => {
      const w = await wallMs();
      return w >= ms - 2500 && w < ms + 2000 ? true : `${new Date(w).toISOString()} vs ${new Date(ms).toISOString()}`;
    };
    await expect.poll(() => near(first!), { timeout: 15_000 }).toBe(true);
    await expect.poll(() => page.locator('.camera-page > .message').textContent()).toMatch(/^Motion \d{2}:\d{2}:\d{2}–\d{2}:\d{2}:\d{2} in porch$/);
    // N: the next one.
    await page.locator('body').press('n');
    await expect.poll(() => near(second!), { timeout: 15_000 }).toBe(true);
    // P: back to the first.
    await page.locator('body').press('p');
    await expect.poll(() => near(first!), { timeout: 15_000 }).toBe(true);
    // N past the last: said so.
    await page.locator('body').press('n');
    await page.locator('body').press('n');
    await expect.poll(() => page.locator('.camera-page > .message').textContent()).toBe('No later motion in the timeline window.');
    expect(problems).toEqual([]);
  }, 90_000);

  it('the editor saves a drawn mask and a named zone; a refused save names the field', async () => {
    await page.goto(`${vigil.app.url}/#/cameras/door/motion`);
    await expect.poll(() => page.getByLabel('Sensitivity (1–100)').inputValue()).toBe('60');
    const stage = page.locator('.motion-editor svg');
    // Measured at each click: pressing a button below the picture may scroll the page.
    const click = async (x: number, y: number) => {
      const box = (await stage.boundingBox())!;
      await page.mouse.click(box.x + x * box.width, box.y + y * box.height);
    };
    // Start again: delete what the config file drew.
    await page.getByRole('button', { name: 'Delete mask 1' }).click();
    await page.getByRole('button', { name: 'Delete porch' }).click();
    await page.getByRole('button', { name: 'Draw a mask' }).click();
    await stage.scrollIntoViewIfNeeded();
    await click(0.1, 0.1);
    await click(0.3, 0.1);
    await click(0.3, 0.2);
    await page.getByRole('button', { name: 'Finish shape' }).click();
    await page.getByRole('button', { name: 'Draw a zone' }).click();
    await stage.scrollIntoViewIfNeeded();
    await click(0.5, 0.5);
    await click(0.9, 0.5);
    await click(0.9, 0.9);
    await click(0.5, 0.9);
    await page.getByRole('button', { name: 'Finish shape' }).click();
    await page.getByLabel('Name of zone 1').fill('gate');
    await page.getByLabel('Name of zone 1').press('Tab');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.locator('.motion-editor .message').textContent()).toBe('Saved: the detector uses these settings now.');
    const cam = (await (await vigil.api('/cameras/door')).json()) as Camera;
    expect(cam.motion.masks).toHaveLength(1);
    const near = (pts: number[][], want: number[][]) => pts.length === want.length && pts.every(([x, y], i) => Math.abs(x! - want[i]![0]!) < 0.02 && Math.abs(y! - want[i]![1]!) < 0.02);
    expect(near(cam.motion.masks[0]!, [[0.1, 0.1], [0.3, 0.1], [0.3, 0.2]]), JSON.stringify(cam.motion.masks)).toBe(true);
    expect(cam.motion.zones.map((z) => z.name)).toEqual(['gate']);
    expect(near(cam.motion.zones[0]!.polygon, [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.5, 0.9]])).toBe(true);
    // Typed points replace a shape; a bad value is refused by the API, naming the field, and nothing changes.
    await page.getByLabel('Sensitivity (1–100)').fill('0');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.locator('.motion-editor .message').textContent()).toMatch(/^Not saved \(motion\.sensitivity\): /);
    expect(((await (await vigil.api('/cameras/door')).json()) as Camera).motion.sensitivity).toBe(60);
    await screenshot(page, 'console-motion-editor-1366x768');
    expect(problems).toEqual([]);
  }, 60_000);
});
