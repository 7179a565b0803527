import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { sleep } from '../../src/shared/sleep.js';
import { removeDir, startVigil, tempDir, waitFor, type TestVigil } from '../support/harness.js';
import { printLogIfFailed } from '../support/log-on-failure.js';
import { buildWeb, closeUiTest, ffprobe, launchChromium, login, screenshot, watchConsole } from './support.js';

type Status = { state: string; segments_written: number; last_frame_at: string | null };
type Events = { events: { ts: string; type: string; camera_id: string | null; payload: Record<string, unknown> }[] };
type Timeline = { spans: { start: string; end: string }[]; gaps: { gap_start: string; gap_end: string }[] };

/** How late the indicator may come after the camera's last frame (issue 15: "within 3 s"). */
const INDICATOR_LIMIT_MS = 3000;
const NO_SIGNAL = /^No signal since \d{2}:\d{2}:\d{2}$/;
/** The site's zone (UTC+5:30, no DST), unlike the browser's (New York): every time on the page is the site's. */
const SITE_ZONE = 'Asia/Kolkata';
const SITE_OFFSET_MS = 5.5 * 3600_000;
/** `YYYY-MM-DD hh:mm:ss` of an instant in the site's zone. */
const siteText = (ms: number) => new Date(ms + SITE_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ');

/**
 * Trust in the operator console, in real Chromium against a real Vigil recording real RTSP cameras:
 * a camera that stops sending (the fake camera's mount frozen, its RTSP session left open) is shown
 * as "No signal since hh:mm:ss" in its tile and on its page within 3 s of its last frame, the
 * recorder calls it `stalled` before ffmpeg exits, the picture's clock is the frame's and stops with
 * it; typed From/To are kept and export; the timeline tells what lies under the pointer.
 */
describe('operator console: trust', () => {
  let cams: RtspServer;
  let vigil: TestVigil;
  let browser: Browser;
  let context: BrowserContext;
  let grid: Page;
  let camPage: Page;
  let problems: string[];
  let downloads: string;

  const status = async (id: string) => (await (await vigil.api(`/cameras/${id}/status`)).json()) as Status;
  const events = async (id: string) => ((await (await vigil.api(`/events?camera_id=${id}&limit=200`)).json()) as Events).events;

  beforeAll(async () => {
    const built = buildWeb();
    cams = await RtspServer.start({ mounts: [{ name: 'frozen' }, { name: 'steady' }] });
    vigil = await startVigil({
      cameras: [
        { id: 'frozen', name: 'Gate', main_url: cams.url('frozen'), segment_seconds: 2 },
        { id: 'steady', name: 'Hall', main_url: cams.url('steady'), segment_seconds: 2 },
      ],
      // The silence watch stops a frozen run after 6 s: the 3 s stall comes first, on a running ffmpeg.
      recorder: { freeze_seconds: 6 },
      site: { time_zone: SITE_ZONE },
    });
    browser = await launchChromium();
    await built;
    await waitFor('both cameras record', async () => (await status('frozen')).segments_written >= 2 && (await status('steady')).segments_written >= 6, 60_000, 500);
    downloads = await tempDir('vigil-trust-dl-');
    context = await browser.newContext({ timezoneId: 'America/New_York', locale: 'en-US', viewport: { width: 1366, height: 768 }, acceptDownloads: true });
    grid = await context.newPage();
    problems = watchConsole(grid);
    await login(grid, vigil);
    camPage = await context.newPage();
    problems.push(...watchConsole(camPage));
  }, 150_000);

  afterAll(async () => {
    await closeUiTest({ context, browser, vigil, cameras: cams });
    if (downloads) await removeDir(downloads);
  });

  it('a frozen camera: "No signal since" in its tile and on its page within 3 s, `stalled` before ffmpeg exits; back when it sends', async () => {
    await grid.goto(`${vigil.app.url}/#/`);
    await camPage.goto(`${vigil.app.url}/#/cameras/frozen`);
    const tile = grid.locator('li.tile[data-camera-id="frozen"]');
    const steadyTile = grid.locator('li.tile[data-camera-id="steady"]');
    await expect.poll(() => tile.getAttribute('data-live'), { timeout: 20_000 }).toBe('playing');
    await expect.poll(() => steadyTile.getAttribute('data-live'), { timeout: 20_000 }).toBe('playing');
    await expect.poll(() => camPage.locator('.player-note').textContent(), { timeout: 20_000 }).toBe('');
    // The tile's clock is the frame's: it advances while frames come.
    const clockMs = async (p: Page, sel: string) => Number((await p.locator(sel).getAttribute('data-wall-ms')) ?? NaN);
    await expect.poll(() => clockMs(grid, 'li.tile[data-camera-id="frozen"] .tile-clock'), { timeout: 10_000 }).toBeGreaterThan(0);
    const before = await clockMs(grid, 'li.tile[data-camera-id="frozen"] .tile-clock');
    await expect.poll(() => clockMs(grid, 'li.tile[data-camera-id="frozen"] .tile-clock'), { timeout: 10_000 }).toBeGreaterThan(before + 500);

    // Both pages note, in their own clock, when the indicator first shows.
    const armed = async (p: Page, sel: string) => p.evaluate((s) => {
      const w = window as unknown as { shownAt?: number };
      delete w.shownAt;
      const el = document.querySelector(s)!;
      const seen = () => {
        if (w.shownAt === undefined && /^No signal since/.test(el.textContent ?? '')) w.shownAt = Date.now();
      };
      new MutationObserver(seen).observe(el, { childList: true, characterData: true, subtree: true });
    }, sel);
    await armed(grid, 'li.tile[data-camera-id="frozen"] .live-state');
    await armed(camPage, '.player-note');
    await cams.freeze('frozen', true);
    const frozenAt = Date.now();

    await expect.poll(() => tile.locator('.live-state').textContent(), { timeout: 10_000 }).toMatch(NO_SIGNAL);
    await expect.poll(() => camPage.locator('.player-note').textContent(), { timeout: 10_000 }).toMatch(NO_SIGNAL);
    const tileShownAt = await grid.evaluate(() => (window as unknown as { shownAt?: number }).shownAt);
    const pageShownAt = await camPage.evaluate(() => (window as unknown as { shownAt?: number }).shownAt);
    // The last frame was sent no later than the freeze's acknowledgement.
    expect(tileShownAt! - frozenAt).toBeLessThanOrEqual(INDICATOR_LIMIT_MS);
    expect(pageShownAt! - frozenAt).toBeLessThanOrEqual(INDICATOR_LIMIT_MS);
    expect(await tile.evaluate((el) => el.classList.contains('no-signal'))).toBe(true);
    expect(await camPage.locator('.overlay .mode').textContent()).toBe('NO SIGNAL');
    // The named time is the last frame's (a second of GOP at most before the freeze), and the clock stopped on it.
    // (in the site's zone: seconds of its day, compared modulo a day)
    const named = /(\d{2}):(\d{2}):(\d{2})$/.exec((await tile.locator('.live-state').textContent())!)!;
    const namedS = Number(named[1]) * 3600 + Number(named[2]) * 60 + Number(named[3]);
    const frozenS = Math.floor((frozenAt + SITE_OFFSET_MS) / 1000) % 86_400;
    expect((frozenS - namedS + 86_400) % 86_400).toBeLessThanOrEqual(3);
    // The player may still be showing the frames it holds from before the freeze (a loaded machine plays
    // behind: CI once saw the clock move 85 ms after the indicator); the clock stops when they run out.
    let stoppedClock = NaN;
    await expect.poll(async () => {
      const was = await clockMs(grid, 'li.tile[data-camera-id="frozen"] .tile-clock');
      await sleep(300);
      stoppedClock = await clockMs(grid, 'li.tile[data-camera-id="frozen"] .tile-clock');
      return stoppedClock === was;
    }, { timeout: 10_000 }).toBe(true);
    await sleep(1000);
    expect(await clockMs(grid, 'li.tile[data-camera-id="frozen"] .tile-clock')).toBe(stoppedClock);
    expect(stoppedClock).toBeLessThanOrEqual(frozenAt + 100);
    // The other camera plays on (on a loaded machine its own fragments may come late for a moment).
    await expect.poll(() => steadyTile.getAttribute('data-live'), { timeout: 10_000 }).toBe('playing');
    await expect.poll(() => steadyTile.locator('.live-state').textContent(), { timeout: 10_000 }).toBe('');
    await screenshot(grid, 'console-trust-grid-no-signal-1366x768');
    await screenshot(camPage, 'console-trust-camera-no-signal-1366x768');

    // Server side: `stalled` was an event while ffmpeg still ran (the silence watch ends the run later).
    await waitFor('camera_stalled', async () => (await events('frozen')).some((e) => e.type === 'camera_stalled'), 15_000, 250);
    const evs = await events('frozen');
    const stalledEv = evs.find((e) => e.type === 'camera_stalled')!;
    const lastFrameAt = Date.parse(String(stalledEv.payload.last_frame_at));
    expect(lastFrameAt).toBeGreaterThan(frozenAt - 3000);
    expect(lastFrameAt).toBeLessThanOrEqual(frozenAt + 200);
    const stalledIdx = evs.indexOf(stalledEv);
    const silentIdx = evs.findIndex((e) => e.type === 'camera_silent');
    // Newest first: a silence stop, when it has come, is newer than the stall.
    if (silentIdx >= 0) expect(silentIdx).toBeLessThan(stalledIdx);
    // The badge: operator words, the last frame's time, the raw state one click away.
    // On a starved machine ffmpeg's progress can come late enough to read as a resume for a moment.
    await expect.poll(async () => (await status('frozen')).state, { timeout: 10_000 }).toMatch(/^(stalled|offline|connecting)$/);
    const st = await status('frozen');
    expect(Date.parse(st.last_frame_at!)).toBeGreaterThanOrEqual(lastFrameAt);
    expect(Date.parse(st.last_frame_at!)).toBeLessThanOrEqual(frozenAt + 200);
    const badge = tile.locator('.status');
    await expect.poll(() => badge.locator('.badge').textContent(), { timeout: 12_000 }).toMatch(/^(No signal|Camera offline|Connecting)$/);
    await expect.poll(() => badge.locator('.no-signal-since').textContent(), { timeout: 12_000 }).toMatch(/^since \d{2}:\d{2}:\d{2}$/);
    await badge.locator('summary').click();
    expect(await badge.locator('.last-error').textContent()).toMatch(/^state: (stalled|offline|connecting)/);

    // Sending again: playing, no indicator, recording.
    await cams.freeze('frozen', false);
    await expect.poll(() => tile.getAttribute('data-live'), { timeout: 30_000 }).toBe('playing');
    await expect.poll(() => tile.locator('.live-state').textContent(), { timeout: 10_000 }).toBe('');
    expect(await tile.evaluate((el) => el.classList.contains('no-signal'))).toBe(false);
    await waitFor('recording again', async () => (await status('frozen')).state === 'recording', 30_000, 250);
    expect(problems).toEqual([]);
  }, 120_000);

  it('a fragment the browser cannot take (a media error) starts the live stream again instead of leaving an error on the picture', async () => {
    const page = await context.newPage();
    const seen = watchConsole(page);
    const warnings: string[] = [];
    page.on('console', (m) => void (m.type() === 'warning' && warnings.push(m.text())));
    // The 8th append of the page's SourceBuffers (a fragment: the init is each one's first) is garbled once.
    await page.addInitScript(() => {
      const append = SourceBuffer.prototype.appendBuffer;
      let n = 0;
      SourceBuffer.prototype.appendBuffer = function (this: SourceBuffer, data: BufferSource) {
        n += 1;
        if (n !== 8) return append.call(this, data);
        // The fragment with its moof's insides overwritten: boxes larger than the moof that holds them.
        const bytes = new Uint8Array((data as ArrayBuffer).slice(0));
        const moofSize = new DataView(bytes.buffer).getUint32(0);
        bytes.fill(0xff, 8, Math.min(moofSize, bytes.length));
        (window as unknown as { garbledAt?: number }).garbledAt = Date.now();
        return append.call(this, bytes);
      };
    });
    await page.goto(`${vigil.app.url}/#/cameras/steady`);
    await waitFor('the garbled append', async () => (await page.evaluate(() => (window as unknown as { garbledAt?: number }).garbledAt)) !== undefined, 30_000, 100);
    // Playing again, nothing on the picture, the camera page live.
    await expect.poll(() => page.locator('.player-note').textContent(), { timeout: 20_000 }).toBe('');
    await expect.poll(() => page.evaluate(() => {
      const v = document.querySelector<HTMLVideoElement>('.player video');
      return v !== null && v.error === null && v.readyState >= 2 && !v.paused;
    }), { timeout: 20_000 }).toBe(true);
    expect(warnings.filter((w) => w.startsWith('live: '))).not.toEqual([]);
    expect(seen).toEqual([]);
    await page.close();
  });

  it('a stall shorter than the silence watch is `stalled`, then back to recording with camera_resumed', async () => {
    await waitFor('recording', async () => (await status('frozen')).state === 'recording', 30_000, 250);
    await cams.freeze('frozen', true);
    await waitFor('stalled', async () => (await status('frozen')).state === 'stalled', 10_000, 100);
    await cams.freeze('frozen', false);
    await waitFor('camera_resumed', async () => (await events('frozen')).some((e) => e.type === 'camera_resumed'), 15_000, 250);
    await waitFor('recording', async () => (await status('frozen')).state === 'recording', 15_000, 100);
  }, 60_000);

  it('typed From and To stay as typed, select the range and export it', async () => {
    await camPage.goto(`${vigil.app.url}/#/cameras/steady`);
    await expect.poll(() => camPage.locator('.timeline').getAttribute('data-loaded'), { timeout: 15_000 }).toBe('true');
    const t = (await (await vigil.api('/cameras/steady/timeline')).json()) as Timeline;
    const end = Date.parse(t.spans[t.spans.length - 1]!.end);
    const from = Math.floor((end - 12_000) / 1000) * 1000;
    const to = from + 6_000;
    // Typed as 24-hour times in the site's zone, which the page names beside them and in its header.
    const local = siteText;
    expect(await camPage.locator('#sel-zone').textContent()).toBe(SITE_ZONE);
    expect(await camPage.locator('.site-zone').textContent()).toBe(`Times: ${SITE_ZONE}`);
    const fromInput = camPage.getByLabel('From', { exact: true });
    const toInput = camPage.getByLabel('To', { exact: true });
    // From alone: it stays (it was erased because To was missing), and the hint says what is missing.
    await fromInput.fill(local(from));
    await fromInput.dispatchEvent('change');
    expect(await fromInput.inputValue()).toBe(local(from));
    expect(await camPage.locator('.sel-info').textContent()).toBe('Fill in both From and To.');
    await toInput.fill(local(to));
    await toInput.dispatchEvent('change');
    expect(await fromInput.inputValue()).toBe(local(from));
    expect(await toInput.inputValue()).toBe(local(to));
    expect(await camPage.locator('.sel-info').textContent()).toBe('6 s selected');
    await expect.poll(() => camPage.locator('.tl-selection').isVisible()).toBe(true);
    // To before From: both kept, said so, nothing selected.
    await toInput.fill(local(from - 5000));
    await toInput.dispatchEvent('change');
    expect(await fromInput.inputValue()).toBe(local(from));
    expect(await camPage.locator('.sel-info').textContent()).toBe('To must be after From.');
    await toInput.fill(local(to));
    await toInput.dispatchEvent('change');
    const [dl] = await Promise.all([camPage.waitForEvent('download', { timeout: 60_000 }), camPage.getByRole('button', { name: 'Export clip' }).click()]);
    const file = `${downloads}/typed.mp4`;
    await dl.saveAs(file);
    const probe = await ffprobe(file);
    expect(probe.codec).toBe('h264');
    expect(probe.durationS).toBeGreaterThan(5);
    expect(probe.durationS).toBeLessThan(7.5);
  }, 90_000);

  it('the timeline: the window label names both ends, hovering tells the time and what is there, a gap is never thinner than 4 px', async () => {
    // It once waited 45 s in CI for an event that comes within ~21 s by design, and left nothing to read.
    printLogIfFailed(vigil, '"cameraId":"frozen"');
    await camPage.goto(`${vigil.app.url}/#/cameras/frozen`);
    // A run that has had video, and has closed two files since: frozen while a run still waits for its
    // first frame (the earlier tests' freezes and releases can leave the camera reconnecting, e.g. for
    // the back-dated burst a release sends), every run ends by ffmpeg's own timeout (its PLAY
    // unanswered), never by the silence watch. CI waited 45 s for camera_silent so, twice.
    const recordingNow = async () => {
      const s = await status('frozen');
      return s.state === 'recording' && s.last_frame_at !== null && Date.now() - Date.parse(s.last_frame_at) < 2000 ? s.segments_written : undefined;
    };
    let since: number | undefined;
    await waitFor('the frozen camera recording with video', async () => (since = await recordingNow()) !== undefined, 60_000, 250);
    await waitFor('two more of its files', async () => ((await recordingNow()) ?? -Infinity) >= (since as number) + 2, 30_000, 250);
    // Frozen past the silence watch: the run is stopped at its last frame, a gap until it sends again.
    await cams.freeze('frozen', true);
    // The event comes after the run's end: 6 s of silence, then a graceful stop (up to stop_timeout_ms,
    // 5 s) and the run's indexing (waited for up to 10 s): ~21 s at worst by design, more on a loaded machine.
    await waitFor('camera_silent', async () => (await events('frozen')).some((e) => e.type === 'camera_silent'), 45_000, 250);
    await cams.freeze('frozen', false);
    await waitFor('a gap', async () => ((await (await vigil.api('/cameras/frozen/timeline')).json()) as Timeline).gaps.length >= 1, 30_000, 500);
    const tl = camPage.locator('.timeline');
    await expect.poll(() => tl.getAttribute('data-loaded'), { timeout: 15_000 }).toBe('true');
    // 24 h: the label carries both dates and the window's length.
    expect(await camPage.locator('.tl-range').textContent()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} – \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \(24 h\)$/);
    const gap = camPage.locator('.tl-gap').first();
    await expect.poll(() => gap.count(), { timeout: 15_000 }).toBe(1);
    await camPage.locator('.tl-track').scrollIntoViewIfNeeded();
    const box = (await gap.boundingBox())!;
    expect(box.width).toBeGreaterThanOrEqual(4);
    // Hover over the gap: the readout names the instant and the gap in words (no refill: no edge storage).
    const trackBox = (await camPage.locator('.tl-track').boundingBox())!;
    // A gap this recent sits at the window's right edge: it is drawn inward, on the track.
    expect(box.x + box.width).toBeLessThanOrEqual(trackBox.x + trackBox.width + 0.5);
    await camPage.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const hover = camPage.locator('.tl-hover');
    await expect.poll(() => hover.isVisible()).toBe(true);
    expect(await hover.textContent()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} · no recording \d{2}:\d{2}:\d{2}–\d{2}:\d{2}:\d{2}( · |$)/);
    // Zoomed in to minutes: over recorded footage it says so, with the instant under the pointer.
    for (let i = 0; i < 8; i++) await camPage.getByRole('button', { name: 'Zoom in' }).click();
    expect(await camPage.locator('.tl-range').textContent()).toMatch(/\((5|6) min\)$/);
    const t = (await (await vigil.api('/cameras/frozen/timeline')).json()) as Timeline;
    const dur = (sp: Timeline['spans'][number]) => Date.parse(sp.end) - Date.parse(sp.start);
    const longest = t.spans.reduce((a, b) => (dur(b) > dur(a) ? b : a));
    // The instant of that span farthest from the camera's events (their marks are named when hovered):
    // a stall without a gap, as the test before makes, lies inside a span.
    const marks = (await events('frozen')).map((e) => Date.parse(e.ts)).filter((ms) => ms > Date.parse(longest.start) && ms < Date.parse(longest.end));
    const cuts = [Date.parse(longest.start), ...marks.sort((a, b) => a - b), Date.parse(longest.end)];
    let mid = (Date.parse(longest.start) + Date.parse(longest.end)) / 2;
    let widest = 0;
    for (let i = 1; i < cuts.length; i++) {
      if (cuts[i]! - cuts[i - 1]! > widest) [widest, mid] = [cuts[i]! - cuts[i - 1]!, (cuts[i]! + cuts[i - 1]!) / 2];
    }
    const trackEl = camPage.locator('.tl-track');
    const track = (await trackEl.boundingBox())!;
    const startMs = Number(await trackEl.getAttribute('data-start-ms'));
    const endMs = Number(await trackEl.getAttribute('data-end-ms'));
    await camPage.mouse.move(track.x + ((mid - startMs) / (endMs - startMs)) * track.width, track.y + track.height / 2);
    await expect.poll(() => hover.textContent()).toMatch(/· recorded$/);
    const atMs = Number(await hover.getAttribute('data-at-ms'));
    // One pixel of a 6 min window is under 0.5 s; the window may have slid on by a follow tick since.
    expect(Math.abs(atMs - mid)).toBeLessThan(6_000);
    // Events are marks at their instants; hovering one names it.
    const stallMark = camPage.locator('.tl-event[data-type="camera_stalled"]').first();
    await expect.poll(() => stallMark.count(), { timeout: 10_000 }).toBe(1);
    // The marks are drawn again at every follow tick: one may be replaced between finding it and measuring it.
    await vi.waitFor(async () => {
      const mark = await stallMark.boundingBox();
      expect(mark).not.toBeNull();
      await camPage.mouse.move(mark!.x + mark!.width / 2, track.y + track.height * 0.85);
      expect(await hover.textContent()).toMatch(/camera stalled at \d{2}:\d{2}:\d{2}/);
    }, { timeout: 10_000, interval: 250 });
    await screenshot(camPage, 'console-trust-timeline-hover-1366x768');
    await camPage.mouse.move(track.x + track.width / 2, track.y - 40);
    await expect.poll(() => hover.isVisible()).toBe(false);
    expect(problems).toEqual([]);
  }, 100_000);
});
