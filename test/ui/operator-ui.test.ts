import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { verifyBundle } from '../../src/evidence/verify.js';
import { sleep } from '../../src/shared/sleep.js';
import { readZip } from '../support/bundle-fixture.js';
import { readCatalog } from '../support/footage.js';
import { removeDir, startVigil, tempDir, waitFor, type TestVigil } from '../support/harness.js';
import { artifactsDir, buildWeb, ffprobe, launchChromium, login, parseClock, screenshot, watchConsole } from './support.js';

type Timeline = { spans: { start: string; end: string }[]; gaps: { gap_start: string; gap_end: string }[] };
type Status = { state: string; segments_written: number };
/** The test cameras send one keyframe a second (gop = fps). */
const GOP_S = 1;

/**
 * The operator page in real Chromium against a real Vigil recording two real RTSP cameras:
 * cam1 (with a sub-stream) records throughout; cam2 is taken down for a while, so its timeline has a gap.
 */
describe('operator web UI', () => {
  let serverA: RtspServer;
  let serverB: RtspServer;
  let vigil: TestVigil;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];
  let downloads: string;

  const status = async (id: string) => (await (await vigil.api(`/cameras/${id}/status`)).json()) as Status;

  beforeAll(async () => {
    const built = buildWeb();
    serverA = await RtspServer.start({ mounts: [{ name: 'cam1' }, { name: 'cam1-sub', width: 320, height: 180 }] });
    serverB = await RtspServer.start({ mounts: [{ name: 'cam2' }] });
    vigil = await startVigil({
      cameras: [
        { id: 'cam1', name: 'Front door', main_url: serverA.url('cam1'), sub_url: serverA.url('cam1-sub'), segment_seconds: 2 },
        { id: 'cam2', name: 'Yard', main_url: serverB.url('cam2'), segment_seconds: 2 },
      ],
    });
    browser = await launchChromium();
    await built;
    // cam2 goes down for ~8 s: a gap between two recorded spans.
    await waitFor('cam2 records', async () => (await status('cam2')).segments_written >= 3, 30_000);
    const port = serverB.port;
    await serverB.kill();
    await waitFor('cam2 offline', async () => (await status('cam2')).state !== 'recording', 20_000);
    await sleep(5_000);
    serverB = await RtspServer.start({ port, mounts: [{ name: 'cam2' }] });
    await waitFor('cam2 records again', async () => {
      const t = (await (await vigil.api('/cameras/cam2/timeline')).json()) as Timeline;
      return t.gaps.length === 1 && t.spans.length === 2 && Date.parse(t.spans[1]!.end) - Date.parse(t.spans[1]!.start) >= 16_000;
    }, 60_000, 500);

    downloads = await tempDir('vigil-ui-dl-');
    await mkdir(artifactsDir, { recursive: true });
    context = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    problems = watchConsole(page);
    await login(page, vigil);
  }, 150_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await vigil?.app.stop();
    await serverA?.stop();
    await serverB?.stop();
    if (vigil) await removeDir(vigil.dataDir);
    if (downloads) await removeDir(downloads);
  });

  it('the grid shows every camera, and each live tile plays (currentTime advances)', async () => {
    await page.goto(`${vigil.app.url}/#/`);
    const tiles = page.locator('li.tile');
    await expect.poll(() => tiles.count()).toBe(2);
    expect(await tiles.locator('.tile-title').allTextContents()).toEqual(['Front door', 'Yard']);
    await expect.poll(() => page.locator('li.tile .badge').allTextContents(), { timeout: 10_000 }).toEqual(['Recording', 'Recording']);
    const times = () => tiles.locator('video').evaluateAll((vs) => vs.map((v) => (v as HTMLVideoElement).currentTime));
    await expect.poll(async () => (await times()).every((t) => t > 0), { timeout: 15_000 }).toBe(true);
    const before = await times();
    await sleep(1_500);
    const after = await times();
    after.forEach((t, i) => expect(t).toBeGreaterThan(before[i]! + 0.5));
    await screenshot(page, 'grid');
  });

  it('the timeline shows the recorded spans the API reports, and the gap where the camera was down', async () => {
    await page.goto(`${vigil.app.url}/#/cameras/cam2`);
    const track = page.getByRole('group', { name: /^Timeline/ });
    await page.locator('.timeline[data-loaded="true"]').waitFor();
    const shown = await track.evaluate((el) => {
      const read = (sel: string) => [...el.querySelectorAll<HTMLElement>(sel)].map((e) => ({ start: Number(e.dataset.startMs), end: Number(e.dataset.endMs) }));
      return { from: Number(el.dataset.startMs), to: Number(el.dataset.endMs), spans: read('.tl-span'), gaps: read('.tl-gap') };
    });
    const api = (await (await vigil.api(`/cameras/cam2/timeline?from=${new Date(shown.from).toISOString()}&to=${new Date(shown.to).toISOString()}`)).json()) as Timeline;
    const apiSpans = api.spans.map((s) => ({ start: Date.parse(s.start), end: Date.parse(s.end) }));
    const apiGaps = api.gaps.map((g) => ({ start: Date.parse(g.gap_start), end: Date.parse(g.gap_end) }));
    expect(apiSpans).toHaveLength(2);
    expect(apiGaps).toHaveLength(1);
    expect(shown.gaps).toEqual(apiGaps);
    // The first span is closed; the second grows while cam2 records, so only its start is fixed.
    expect(shown.spans).toHaveLength(2);
    expect(shown.spans[0]).toEqual(apiSpans[0]);
    expect(shown.spans[1]!.start).toBe(apiSpans[1]!.start);
    expect(apiSpans[1]!.end - shown.spans[1]!.end).toBeLessThan(10_000);
    // The gap sits between the spans, where the camera was down.
    expect(apiGaps[0]!.start).toBe(apiSpans[0]!.end);
    expect(apiGaps[0]!.end).toBe(apiSpans[1]!.start);

    // Zoomed to minutes, the gap is drawn wide enough to see.
    await zoomToMinutes();
    const gapBox = await page.locator('.tl-gap').boundingBox();
    expect(gapBox?.width ?? 0).toBeGreaterThan(10);
  });

  it('clicking an instant T on the timeline plays recorded video whose clock shows T (±2 s) and advances', async () => {
    await openZoomedCamera('cam2');
    const t = (await (await vigil.api('/cameras/cam2/timeline')).json()) as Timeline;
    const last = t.spans.at(-1)!;
    // Far enough from the end that a slow machine still catches the clock before the footage runs out.
    const T = Math.max(Date.parse(last.start) + 1_000, Date.parse(last.end) - 15_000);
    expect(Date.parse(last.end) - T).toBeGreaterThanOrEqual(6_000);
    const clock = page.getByLabel('Time of the frame on screen');
    // Live was on screen, its clock showing its frames' times.
    await waitFor('the live clock', async () => (parseClock((await clock.textContent()) ?? '') !== null ? true : undefined), 15_000);
    // What the page shows right after the timeline has taken the click (a listener on the window runs
    // after the timeline's own): the clock shows no time or the recorded frame's, never the live
    // frame's, which stays on screen until the recorded video replaces it.
    await page.evaluate(() => {
      window.addEventListener('click', () => {
        const el = document.querySelector<HTMLElement>('.camera-page');
        (window as unknown as { afterClick: unknown }).afterClick = { mode: el?.dataset['mode'], clock: el?.querySelector('.clock')?.textContent ?? '' };
      });
    });
    await clickAt(T);
    const shown = await page.evaluate(() => (window as unknown as { afterClick: { mode?: string; clock: string } }).afterClick);
    expect(shown.mode).toBe('recorded');
    const atClick = parseClock(shown.clock);
    if (atClick !== null) expect(Math.abs(atClick - T)).toBeLessThanOrEqual(2_000);
    const first = await waitFor('recorded video on screen', async () => {
      const ms = parseClock((await clock.textContent()) ?? '');
      const playing = await page.locator('.player video').evaluate((v: HTMLVideoElement) => !v.paused && v.readyState >= 2);
      return ms !== null && playing ? ms : undefined;
    }, 15_000);
    expect(Math.abs(first - T)).toBeLessThanOrEqual(2_000);
    const mediaBefore = await page.locator('.player video').evaluate((v: HTMLVideoElement) => v.currentTime);
    await sleep(2_500);
    const later = parseClock((await clock.textContent()) ?? '')!;
    expect(later).toBeGreaterThan(first);
    expect(await page.locator('.player video').evaluate((v: HTMLVideoElement) => v.currentTime)).toBeGreaterThan(mediaBefore + 1);
    await screenshot(page, 'camera-view');
    // Snapshot of the recorded frame on screen: a JPEG named for its instant.
    const [shot] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Snapshot' }).click()]);
    expect(shot.suggestedFilename()).toMatch(/^cam2_\d{8}T\d{6}Z\.jpg$/);
    const jpeg = await readFile(await shot.path());
    expect(jpeg.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
  });

  it('export of a range selected on the timeline downloads a playable MP4 as long as the range (± one GOP)', async () => {
    await openZoomedCamera('cam2');
    const t = (await (await vigil.api('/cameras/cam2/timeline')).json()) as Timeline;
    const last = t.spans.at(-1)!;
    const endMs = Date.parse(last.end) - 3_000;
    await dragBetween(endMs - 7_000, endMs);
    const from = Date.parse(`${await page.getByLabel('From', { exact: true }).inputValue()}Z`);
    const to = Date.parse(`${await page.getByLabel('To', { exact: true }).inputValue()}Z`);
    expect(to - from).toBeGreaterThanOrEqual(6_000);
    expect(from).toBeGreaterThanOrEqual(Date.parse(last.start));
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export clip' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^cam2_\d{8}T\d{6}Z_\d{8}T\d{6}Z\.mp4$/);
    const file = join(downloads, download.suggestedFilename());
    await download.saveAs(file);
    const probe = await ffprobe(file);
    expect(probe.codec).toBe('h264');
    expect(probe.frames).toBeGreaterThan(0);
    const rangeS = (to - from) / 1000;
    expect(probe.durationS).toBeGreaterThanOrEqual(rangeS - 0.1);
    expect(probe.durationS).toBeLessThanOrEqual(rangeS + GOP_S + 0.1);
  });

  it('holds a selected range as evidence with an incident id, and the timeline draws the hold', async () => {
    await openZoomedCamera('cam2');
    const t = (await (await vigil.api('/cameras/cam2/timeline')).json()) as Timeline;
    const first = t.spans[0]!;
    await dragBetween(Date.parse(first.start) + 1_000, Date.parse(first.end) - 1_000);
    await page.getByLabel('Incident id').fill('case-42');
    await page.getByRole('button', { name: 'Hold as evidence' }).click();
    await expect.poll(() => page.locator('.message').textContent()).toMatch(/^Held [1-9]\d* segment\(s\), .* for incident case-42\.$/);
    await expect.poll(() => page.locator('.tl-evidence').count()).toBeGreaterThan(0);
    const from = Date.parse(`${await page.getByLabel('From', { exact: true }).inputValue()}Z`);
    const to = Date.parse(`${await page.getByLabel('To', { exact: true }).inputValue()}Z`);
    const segs = (await (await vigil.api(`/cameras/cam2/segments?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`)).json()) as {
      segments: { evidence_locked: boolean; incident_id: string | null }[];
    };
    expect(segs.segments.length).toBeGreaterThan(0);
    expect(segs.segments.every((s) => s.evidence_locked && s.incident_id === 'case-42')).toBe(true);
    const drawn = await page.locator('.tl-evidence').first().evaluate((el) => ({ start: Number(el.dataset.startMs), end: Number(el.dataset.endMs) }));
    expect(drawn.start).toBeLessThanOrEqual(from);
    expect(drawn.end).toBeGreaterThanOrEqual(to);
  });

  it('exports the selected range as a signed evidence bundle that vigil verify and its own verify.html accept', async () => {
    await openZoomedCamera('cam2');
    const t = (await (await vigil.api('/cameras/cam2/timeline')).json()) as Timeline;
    const first = t.spans[0]!;
    await dragBetween(Date.parse(first.start) + 1_000, Date.parse(first.end) - 1_000);
    await page.getByLabel('Incident id').fill('case-43');
    await page.getByLabel('Reason').fill('UI test: handed to the insurer');
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: 'Export signed bundle' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^vigil-exp_[A-Za-z0-9_-]+\.zip$/);
    const file = join(downloads, download.suggestedFilename());
    await download.saveAs(file);
    const key = (await (await vigil.api('/signing-key')).json()) as { fingerprint: string };
    const r = await verifyBundle(file, { fingerprint: key.fingerprint });
    expect(r.findings).toEqual([]);
    expect(r.valid).toBe(true);
    await expect.poll(() => page.locator('.message').textContent()).toMatch(/^Evidence bundle exp_\S+ is ready/);

    // The verify.html inside the bundle, opened offline from a file, checks the very same bundle.
    const pagePath = join(downloads, 'verify.html');
    await writeFile(pagePath, (await readZip(file)).find(([name]) => name === 'verify.html')![1]);
    const offline = await context.newPage();
    const offlineProblems = watchConsole(offline);
    await offline.goto(`file://${pagePath}`);
    await offline.getByLabel('Expected key fingerprint (optional)').fill(key.fingerprint);
    await offline.getByLabel('Evidence bundle (.zip)').setInputFiles(file);
    await expect.poll(() => offline.locator('#verdict').getAttribute('data-verdict'), { timeout: 20_000 }).toBe('valid');
    expect(await offline.locator('#fingerprint').textContent()).toContain(key.fingerprint);
    expect(offlineProblems).toEqual([]);
    await offline.close();
  });

  it('the events page lists the gap the camera left', async () => {
    await page.goto(`${vigil.app.url}/#/events`);
    await page.getByLabel('Type').fill('recording_gap');
    await page.getByRole('button', { name: 'Show' }).click();
    const rows = page.getByRole('table', { name: 'Events' }).locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().locator('td').nth(2).textContent()).toBe('recording_gap');
    // The camera by the name the operator gave it, linking to its page.
    expect(await rows.first().locator('td').nth(3).textContent()).toBe('Yard');
    expect(await rows.first().locator('td').nth(3).locator('a').getAttribute('href')).toBe('#/cameras/cam2');
  });

  it('the events page says why a recorder stopped in words, with ffmpeg\'s own text folded away', async () => {
    const { events } = (await (await vigil.api('/events?type=recorder_exited&camera_id=cam2')).json()) as { events: Array<{ id: number; payload: { reason: string; stderr_tail?: string } }> };
    const ev = events.find((e) => (e.payload.stderr_tail ?? '').trim() !== '')!;
    expect(ev).toBeDefined();
    await page.goto(`${vigil.app.url}/#/events`);
    await page.getByLabel('Type').fill('recorder_exited');
    await page.getByRole('button', { name: 'Show' }).click();
    const cell = page.locator(`tr[data-event-id="${ev.id}"] td.payload`);
    await cell.waitFor();
    expect(await cell.locator('.reason').textContent()).toBe(ev.payload.reason);
    // ffmpeg's text is inside a closed <details>: not shown until asked for, and not in the row's words.
    const raw = cell.locator('details.raw');
    expect(await raw.getAttribute('open')).toBeNull();
    expect(await raw.locator('pre').isVisible()).toBe(false);
    expect(await cell.locator('.fields').textContent()).not.toContain('stderr_tail');
    // Unfolding it does not play the row's moment (the rest of the row does).
    await raw.locator('summary').click();
    expect(await raw.locator('pre').isVisible()).toBe(true);
    expect(page.url()).toMatch(/#\/events$/);
    expect(await raw.locator('pre').textContent()).toBe(ev.payload.stderr_tail!.trim());
  });

  it('a camera added, edited and deleted through the forms changes the API\'s list', async () => {
    await page.goto(`${vigil.app.url}/#/cameras/new`);
    await page.getByLabel('Id', { exact: true }).fill('porch');
    await page.getByLabel('Name', { exact: true }).fill('Porch');
    await page.getByLabel('Main stream URL').fill('rtsp://user:secret@127.0.0.1:9/porch');
    await page.getByLabel('Record this camera').uncheck();
    await page.getByRole('button', { name: 'Add camera' }).click();
    await page.waitForURL(/#\/cameras\/porch$/);
    const get = async () => (await vigil.api('/cameras/porch')).json() as Promise<{ name: string; enabled: boolean; main_url: string }>;
    expect(await get()).toMatchObject({ name: 'Porch', enabled: false, main_url: 'rtsp://user:***@127.0.0.1:9/porch' });

    await page.getByRole('link', { name: 'Edit camera' }).click();
    await expect.poll(() => page.getByLabel('Name', { exact: true }).inputValue()).toBe('Porch');
    await page.getByLabel('Name', { exact: true }).fill('Back porch');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.waitForURL(/#\/cameras\/porch$/);
    expect(await get()).toMatchObject({ name: 'Back porch' });
    // Only the changed field was sent: the masked URL shown in the form never overwrote the real one.
    const updates = readCatalog(vigil.dataDir).events.filter((e) => e.type === 'camera_updated' && e.camera_id === 'porch');
    expect(updates.map((e) => JSON.parse(e.payload) as unknown)).toEqual([{ fields: ['name'] }]);

    await page.goto(`${vigil.app.url}/#/cameras/porch/edit`);
    await page.getByRole('button', { name: 'Delete camera' }).click();
    await page.getByRole('button', { name: 'Yes, delete porch' }).click();
    await page.waitForURL(/#\/$/);
    expect((await vigil.api('/cameras/porch')).status).toBe(404);
  });

  it('adding a camera with a bad URL shows the API\'s error next to that field and creates nothing', async () => {
    await page.goto(`${vigil.app.url}/#/cameras/new`);
    await page.getByLabel('Id', { exact: true }).fill('badcam');
    await page.getByLabel('Main stream URL').fill('ftp://camera.invalid/stream');
    await page.getByRole('button', { name: 'Add camera' }).click();
    const field = page.locator('.field', { has: page.getByLabel('Main stream URL') });
    const error = field.locator('.field-error');
    await expect.poll(() => error.textContent()).not.toBe('');
    const api = (await (await vigil.api('/cameras', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'badcam', main_url: 'ftp://camera.invalid/stream' }),
    })).json()) as { field: string; message: string };
    expect(api.field).toBe('main_url');
    expect(await error.textContent()).toBe(api.message);
    expect(await page.getByLabel('Main stream URL').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('.field-error').filter({ hasText: /./ }).count()).toBe(1);
    const { cameras } = (await (await vigil.api('/cameras')).json()) as { cameras: { id: string }[] };
    expect(cameras.map((c) => c.id).sort()).toEqual(['cam1', 'cam2']);
  });

  it('works on a phone-sized viewport: one column of tiles, the timeline fits the screen', async () => {
    const phone = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    try {
      const p = await phone.newPage();
      await login(p, vigil);
      await p.goto(`${vigil.app.url}/#/`);
      const tiles = p.locator('li.tile');
      await expect.poll(() => tiles.count()).toBe(2);
      const boxes = await Promise.all([tiles.nth(0).boundingBox(), tiles.nth(1).boundingBox()]);
      expect(boxes[0]!.x).toBe(boxes[1]!.x);
      expect(boxes[0]!.x + boxes[0]!.width).toBeLessThanOrEqual(390);
      await screenshot(p, 'grid-phone');
      await p.goto(`${vigil.app.url}/#/cameras/cam2`);
      const track = await p.getByRole('group', { name: /^Timeline/ }).boundingBox();
      expect(track!.width).toBeGreaterThan(300);
      expect(track!.x + track!.width).toBeLessThanOrEqual(390);
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await screenshot(p, 'camera-view-phone');
    } finally {
      await phone.close();
    }
  });

  it('asks for a login, refuses a wrong password, and shows a viewer only what a viewer may do', async () => {
    const me = await fetch(`${vigil.app.url}/api/v1/auth/me`);
    expect(me.status).toBe(401); // this Vigil has authentication: the page must not show anything before a login
    const viewer = { username: 'viewer1', password: 'viewer password 1' };
    const created = await vigil.api('/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...viewer, role: 'viewer' }),
    });
    expect(created.status).toBe(201);
    const fresh = await browser.newContext({ timezoneId: 'UTC' });
    try {
      const p = await fresh.newPage();
      const pageProblems = watchConsole(p);
      await p.goto(`${vigil.app.url}/#/cameras/cam1`);
      await p.getByLabel('Username').fill(viewer.username);
      await p.getByLabel('Password').fill('not the password');
      await p.getByRole('button', { name: 'Log in' }).click();
      await expect.poll(() => p.getByRole('alert').first().textContent()).toBe('Wrong username or password.');
      expect(await p.locator('li.tile').count()).toBe(0);

      await p.getByLabel('Password').fill(viewer.password);
      await p.getByRole('button', { name: 'Log in' }).click();
      // Back where the viewer was going, signed in as a viewer.
      await p.getByRole('heading', { name: 'Front door' }).waitFor();
      expect(await p.locator('.topnav .who').textContent()).toBe('viewer1 (viewer)');
      await p.getByRole('button', { name: 'Go live' }).waitFor();
      for (const name of ['Export clip', 'Hold as evidence', 'Snapshot', 'Export signed bundle']) expect(await p.getByRole('button', { name }).count()).toBe(0);
      expect(await p.getByRole('link', { name: 'Edit camera' }).count()).toBe(0);
      const nav = p.getByRole('navigation', { name: 'Main' });
      expect(await nav.getByRole('link', { name: 'Events' }).count()).toBe(0);
      expect(await nav.getByRole('link', { name: 'Add camera' }).count()).toBe(0);

      await p.getByRole('button', { name: 'Log out' }).click();
      await p.getByRole('button', { name: 'Log in' }).waitFor();
      // The session is gone on the server too.
      const after = await p.evaluate(async () => (await fetch('api/v1/auth/me')).status);
      expect(after).toBe(401);
      expect(pageProblems).toEqual([]);
    } finally {
      await fresh.close();
    }
  });

  it('ran under a strict Content-Security-Policy without a script error or a CSP refusal', async () => {
    const csp = (await fetch(`${vigil.app.url}/`)).headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(problems).toEqual([]);
  });

  async function openZoomedCamera(id: string): Promise<void> {
    // A fresh document: the previous test may have left the same view open, scrolled into the past.
    await page.goto(`${vigil.app.url}/#/cameras/${id}`);
    await page.reload();
    await page.locator('.timeline[data-loaded="true"]').waitFor();
    await zoomToMinutes();
  }

  /** Zooms the 24-h window (ending now) down to under 6 minutes. */
  async function zoomToMinutes(): Promise<void> {
    const track = page.getByRole('group', { name: /^Timeline/ });
    for (let i = 0; i < 8; i++) await page.getByRole('button', { name: 'Zoom in' }).click();
    await expect.poll(async () => {
      const w = await track.evaluate((el) => Number(el.dataset.endMs) - Number(el.dataset.startMs));
      return w < 6 * 60_000;
    }).toBe(true);
    await page.waitForTimeout(400); // the debounced reload of the zoomed window
  }

  /** Screen x of a wall-clock instant, with the window it was computed for. */
  async function xOf(ms: number): Promise<{ x: number; y: number; window: string }> {
    const r = await page.getByRole('group', { name: /^Timeline/ }).evaluate((el) => {
      const b = el.getBoundingClientRect();
      return { s: Number(el.dataset.startMs), e: Number(el.dataset.endMs), left: b.left, width: b.width, top: b.top, height: b.height };
    });
    expect(ms).toBeGreaterThan(r.s);
    expect(ms).toBeLessThan(r.e);
    return { x: r.left + ((ms - r.s) / (r.e - r.s)) * r.width, y: r.top + r.height / 2, window: `${r.s}-${r.e}` };
  }

  async function windowNow(): Promise<string> {
    return page.getByRole('group', { name: /^Timeline/ }).evaluate((el) => `${el.dataset.startMs}-${el.dataset.endMs}`);
  }

  /** Clicks the instant; retried if the window slid (it follows the present) between measuring and clicking. */
  async function clickAt(ms: number): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const p = await xOf(ms);
      await page.mouse.click(p.x, p.y);
      if ((await windowNow()) === p.window) return;
    }
    throw new Error('the timeline kept moving under the click');
  }

  async function dragBetween(aMs: number, bMs: number): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const a = await xOf(aMs);
      const b = await xOf(bMs);
      await page.mouse.move(a.x, a.y);
      await page.mouse.down();
      await page.mouse.move(b.x, b.y, { steps: 8 });
      await page.mouse.up();
      if ((await windowNow()) === a.window && a.window === b.window) return;
    }
    throw new Error('the timeline kept moving under the drag');
  }
});
