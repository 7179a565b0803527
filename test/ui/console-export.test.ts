/**
 * Clip export says what it does, in real Chromium against a real Vigil recording a real RTSP camera:
 * progress while the clip comes, "Clip exported: <file>" when it is saved (a UTC file name: the `Z`),
 * the button disabled meanwhile, and the server's own reason when it refuses ("Clip not exported: …").
 * Also: the camera page's controls fit a 1366×768 screen without scrolling.
 */
import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { removeDir, startVigil, tempDir, waitFor, type TestVigil } from '../support/harness.js';
import { buildWeb, closeUiTest, launchChromium, login, screenshot, watchConsole } from './support.js';

/** `YYYY-MM-DD hh:mm:ss` in UTC (the site's zone in this test). */
const text = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

describe('operator console: clip export', () => {
  let cams: RtspServer;
  let vigil: TestVigil;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  let downloads: string;

  beforeAll(async () => {
    const built = buildWeb();
    cams = await RtspServer.start({ mounts: [{ name: 'cam' }] });
    // The server exports at most 8 s: a longer range passes the page's own check and is refused by the API.
    vigil = await startVigil({ cameras: [{ id: 'cam', name: 'Dock', main_url: cams.url('cam'), segment_seconds: 2 }], media: { clip_max_seconds: 8 } });
    browser = await launchChromium();
    await built;
    downloads = await tempDir('vigil-export-dl-');
    await waitFor('6 segments', async () => ((await (await vigil.api('/cameras/cam/status')).json()) as { segments_written: number }).segments_written >= 6, 60_000, 250);
    context = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 1366, height: 768 }, acceptDownloads: true });
    page = await context.newPage();
    problems = watchConsole(page);
    await login(page, vigil);
  }, 120_000);

  afterAll(async () => {
    await closeUiTest({ context, browser, vigil, cameras: cams });
    await removeDir(downloads);
  });

  const segments = async () =>
    ((await (await vigil.api('/cameras/cam/segments?limit=1000')).json()) as { segments: Array<{ start: string; end: string }> }).segments.map((s) => ({
      startMs: Date.parse(s.start),
      endMs: Date.parse(s.end),
    }));

  /** Types From/To (whole seconds) and clicks Export clip, noting whether the button was ever disabled. */
  const exportRange = async (fromMs: number, toMs: number) => {
    await page.getByLabel('From', { exact: true }).fill(text(fromMs));
    await page.getByLabel('From', { exact: true }).dispatchEvent('change');
    await page.getByLabel('To', { exact: true }).fill(text(toMs));
    await page.getByLabel('To', { exact: true }).dispatchEvent('change');
    await page.evaluate(() => {
      const w = window as unknown as { disabledSeen?: boolean };
      w.disabledSeen = false;
      const b = [...document.querySelectorAll('button')].find((e) => e.textContent === 'Export clip')!;
      new MutationObserver(() => {
        if ((b as HTMLButtonElement).disabled) w.disabledSeen = true;
      }).observe(b, { attributes: true });
    });
    await page.getByRole('button', { name: 'Export clip' }).click();
  };

  it('shows the export under way, then "Clip exported" with the UTC file name; the file is the clip', async () => {
    await page.goto(`${vigil.app.url}/#/cameras/cam`);
    await page.locator('.timeline[data-loaded="true"]').waitFor({ timeout: 15_000 });
    const segs = await segments();
    const fromMs = Math.ceil(segs[1]!.startMs / 1000) * 1000;
    const toMs = fromMs + 4000;
    const message = page.locator('.camera-page > .message');
    const downloaded = page.waitForEvent('download', { timeout: 60_000 });
    await exportRange(fromMs, toMs);
    const dl = await downloaded;
    const name = `cam_${text(fromMs).replace(/[-: ]/g, (c) => (c === ' ' ? 'T' : ''))}Z_${text(toMs).replace(/[-: ]/g, (c) => (c === ' ' ? 'T' : ''))}Z.mp4`;
    expect(dl.suggestedFilename()).toBe(name);
    expect(dl.suggestedFilename()).toMatch(/^cam_\d{8}T\d{6}Z_\d{8}T\d{6}Z\.mp4$/);
    await expect.poll(() => message.textContent(), { timeout: 15_000 }).toMatch(new RegExp(`^Clip exported: ${name.replace(/\./g, '\\.')} \\(\\d+(\\.\\d+)? (B|KiB|MiB|kB|MB)\\)$`));
    const file = `${downloads}/clip.mp4`;
    await dl.saveAs(file);
    const bytes = await readFile(file);
    expect(bytes.toString('latin1', 4, 8)).toBe('ftyp');
    expect(await page.evaluate(() => (window as unknown as { disabledSeen?: boolean }).disabledSeen)).toBe(true);
    expect(await page.getByRole('button', { name: 'Export clip' }).isDisabled()).toBe(false);
    await screenshot(page, 'console-export-done-1366x768');
  }, 90_000);

  it('says why the server refused, and gives the button back', async () => {
    await page.goto(`${vigil.app.url}/#/cameras/cam`);
    await page.locator('.timeline[data-loaded="true"]').waitFor({ timeout: 15_000 });
    const segs = await segments();
    const fromMs = Math.ceil(segs[0]!.startMs / 1000) * 1000;
    await exportRange(fromMs, fromMs + 10_000);
    const message = page.locator('.camera-page > .message');
    await expect.poll(() => message.textContent(), { timeout: 15_000 }).toMatch(/^Clip not exported: .*8 s/);
    await expect.poll(() => page.getByRole('button', { name: 'Export clip' }).isDisabled(), { timeout: 10_000 }).toBe(false);
    expect(problems).toEqual([]);
  }, 60_000);

  it('fits the camera page\'s controls on a 1366×768 screen without scrolling', async () => {
    await page.goto(`${vigil.app.url}/#/cameras/cam`);
    await page.locator('.timeline[data-loaded="true"]').waitFor({ timeout: 15_000 });
    await page.evaluate(() => window.scrollTo(0, 0));
    const bottoms: Record<string, number> = {};
    for (const [what, loc] of [
      ['Go live', page.getByRole('button', { name: 'Go live' })],
      ['transport', page.getByRole('toolbar', { name: 'Transport' })],
      ['timeline', page.locator('.timeline')],
      ['From', page.getByLabel('From', { exact: true })],
      ['To', page.getByLabel('To', { exact: true })],
      ['Export clip', page.getByRole('button', { name: 'Export clip' })],
      ['Export signed bundle', page.getByRole('button', { name: 'Export signed bundle' })],
    ] as const) {
      const box = await loc.first().boundingBox();
      bottoms[what] = box ? Math.round(box.y + box.height) : NaN;
    }
    for (const [what, bottom] of Object.entries(bottoms)) expect(bottom, what).toBeLessThanOrEqual(768);
    await screenshot(page, 'console-camera-1366x768');
    // The phone layout is unchanged by the desktop fit (its 44 px targets are checked in a11y.test.ts).
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('.timeline[data-loaded="true"]').waitFor({ timeout: 15_000 });
    const clip = await page.getByRole('button', { name: 'Export clip' }).boundingBox();
    expect(clip!.height).toBeGreaterThanOrEqual(44);
    await screenshot(page, 'console-camera-390x844');
    await page.setViewportSize({ width: 1366, height: 768 });
  }, 60_000);
});
