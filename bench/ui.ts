/**
 * Web UI figures, measured in headless Chromium (Debian's chromium, as in the UI tests) against an
 * in-process Vigil recording a real RTSP camera:
 * - open-to-first-frame for live: from the hash change that opens the camera view to the first video
 *   frame presented (requestVideoFrameCallback), p50/p95 (goal ≤ 1.5 s);
 * - click-to-first-frame for recorded playback: from the pointerup of a click on the timeline to the
 *   first recorded frame presented, p50/p95 (goal ≤ 300 ms); each click is at a fresh random instant;
 * - glass-to-glass for live: the instant a frame is shown minus the capture instant the camera burned
 *   into it as a QR code (read in the page), p50/p95 (goal p95 ≤ 1 s);
 * - the newest reviewable footage's delay behind live (now − the end of the playlist's newest fragment,
 *   the open segment's included; sampled every 0.5 s for 10 s): what review can reach before it hands over to live;
 * - stall-to-indicator: the camera frozen (RTSP session open) with its page open live, from the
 *   freeze's acknowledgement to "No signal since" on the page (goal ≤ 3 s).
 * Standalone: `node --import tsx bench/ui.ts [--samples N]` (section `ui` for bench/run.ts: runUi()).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { RtspServer } from '../src/demo/rtsp-server.js';
import { RECORD_FRAGMENT_US } from '../src/media/recorder-args.js';
import { removeDir, startVigil, waitFor } from '../test/support/harness.js';
import { buildWeb, launchChromium, login } from '../test/ui/support.js';
import { percentile } from './proc.js';
import { check, fmt, goal, renderTable, type SectionResult } from './report.js';

export interface UiOptions {
  samples: number;
  log: (msg: string) => void;
}

const MOUNT = { name: 'ui', width: 1280, height: 720, fps: 25, gop: 50, bitrateKbps: 2000 } as const;
/**
 * The same camera with each frame's capture instant burned in as a QR code (bottom-right), for
 * glass-to-glass; recorded by its own Vigil after the other figures, since the overlay costs the fake
 * camera CPU that would weigh on them.
 */
const CODE_MOUNT = { ...MOUNT, name: 'glass', code: true } as const;
// A realistic segment length: review reaches the open segment's newest whole fragment, not the last closed segment.
const SEGMENT_SECONDS = 60;

export async function runUi(o: UiOptions): Promise<SectionResult[]> {
  await buildWeb();
  const server = await RtspServer.start({ mounts: [MOUNT] });
  const vigil = await startVigil({ cameras: [{ id: 'cam', name: 'Bench', main_url: server.url(MOUNT.name), segment_seconds: SEGMENT_SECONDS }] });
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await login(page, vigil);
    await waitFor('recording', async () => ((await (await vigil.api('/cameras/cam/status')).json()) as { state: string }).state === 'recording', 30_000);
    // Some footage to click in: all of it in the open segment (reviewable before its row exists).
    await new Promise((r) => setTimeout(r, 15_000));

    const live: number[] = [];
    for (let i = 0; i < o.samples; i++) {
      await page.goto(`${vigil.app.url}/#/events`);
      live.push(await openLive(page));
      o.log(`  live ${i + 1}/${o.samples}: ${live.at(-1)!.toFixed(0)} ms`);
    }

    // How far behind the newest received frame the live picture plays (a part of glass-to-glass latency).
    const lag = (await page.evaluate(async () => {
      const v = document.querySelector<HTMLVideoElement>('.player video')!;
      const out: number[] = [];
      for (let i = 0; i < 50; i++) {
        await new Promise((r) => setTimeout(r, 100));
        if (v.buffered.length > 0) out.push((v.buffered.end(v.buffered.length - 1) - v.currentTime) * 1000);
      }
      return out;
    })).filter((x) => Number.isFinite(x) && x >= 0);
    o.log(`  live buffer lag p50 ${percentile(lag, 50).toFixed(0)} ms`);

    // Enough footage to click around in: 40 s.
    await waitFor('40 s of footage', async () => {
      const t = (await (await vigil.api('/cameras/cam/timeline')).json()) as { spans: { start: string; end: string }[] };
      const s = t.spans.at(-1);
      return s && Date.parse(s.end) - Date.parse(s.start) >= 40_000;
    }, 90_000, 1000);
    const recorded: number[] = [];
    const errors: number[] = [];
    for (let i = 0; i < o.samples; i++) {
      await page.goto(`${vigil.app.url}/#/events`);
      await page.goto(`${vigil.app.url}/#/cameras/cam`);
      await page.locator('.timeline[data-loaded="true"]').waitFor();
      for (let z = 0; z < 9; z++) await page.getByRole('button', { name: 'Zoom in' }).click();
      await page.waitForTimeout(300);
      const r = await clickRecorded(page, vigil.api.bind(vigil));
      recorded.push(r.ms);
      errors.push(r.clockErrorMs);
      o.log(`  recorded ${i + 1}/${o.samples}: ${r.ms.toFixed(0)} ms (clock 0.3 s later − clicked instant: ${r.clockErrorMs.toFixed(0)} ms)`);
    }

    // The newest footage review can reach: how far behind now the end of the playlist's last
    // fragment is (the open segment's whole fragments are listed).
    const newest: number[] = [];
    for (let i = 0; i < 20; i++) {
      const now = Date.now();
      const q = `from=${new Date(now - 120_000).toISOString()}&to=${new Date(now).toISOString()}`;
      const text = await (await vigil.api(`/cameras/cam/playback.m3u8?${q}`)).text();
      const pdt = [...text.matchAll(/#EXT-X-PROGRAM-DATE-TIME:(\S+)\n#EXTINF:([\d.]+),/g)].at(-1);
      if (pdt) newest.push(now - (Date.parse(pdt[1]!) + Number(pdt[2]) * 1000));
      await new Promise((r) => setTimeout(r, 500));
    }
    o.log(`  newest footage behind live p50 ${percentile(newest, 50).toFixed(0)} ms`);

    // Stall-to-indicator: last, since each freeze leaves the camera's recording a gap.
    const stalls: number[] = [];
    for (let i = 0; i < Math.min(o.samples, 5); i++) {
      await page.goto(`${vigil.app.url}/#/events`);
      await page.goto(`${vigil.app.url}/#/cameras/cam`);
      await page.locator('.camera-page[data-mode="live"]').waitFor();
      await waitFor('live playing', async () => (await page.locator('.player-note').textContent()) === '', 30_000, 100);
      await page.waitForTimeout(1500);
      const shown = page.evaluate(() => new Promise<number>((resolve) => {
        const note = document.querySelector('.player-note')!;
        new MutationObserver(() => {
          if ((note.textContent ?? '').startsWith('No signal since')) resolve(Date.now());
        }).observe(note, { childList: true, characterData: true, subtree: true });
      }));
      await server.freeze(MOUNT.name, true);
      const frozenAt = Date.now();
      stalls.push((await shown) - frozenAt);
      o.log(`  stall-to-indicator ${i + 1}: ${stalls.at(-1)!.toFixed(0)} ms`);
      await server.freeze(MOUNT.name, false);
      await waitFor('recording again', async () => ((await (await vigil.api('/cameras/cam/status')).json()) as { state: string }).state === 'recording', 60_000, 250);
    }
    const { ms: glass, framesPerSecond } = await measureGlass(browser);
    o.log(`  glass-to-glass p50 ${percentile(glass, 50).toFixed(0)} ms over ${glass.length} frames; ${framesPerSecond.toFixed(1)} frames/s presented`);

    const sp50 = percentile(stalls, 50);
    const smax = Math.max(...stalls);

    const lp50 = percentile(live, 50);
    const lp95 = percentile(live, 95);
    const rp50 = percentile(recorded, 50);
    const rp95 = percentile(recorded, 95);
    return [{
      name: 'ui',
      rows: [
        { figure: `live open-to-first-frame p50 (${o.samples} opens, Chromium)`, value: fmt.ms(lp50), goal: goal('≤ 500 ms', check(lp50, (v) => v <= 500)) },
        { figure: 'live open-to-first-frame p95', value: fmt.ms(lp95), goal: goal('≤ 500 ms', check(lp95, (v) => v <= 500)) },
        {
          figure: 'live: picture behind the newest frame received (p50 / p95 over 5 s)',
          value: `${fmt.ms(percentile(lag, 50))} / ${fmt.ms(percentile(lag, 95))}`,
          baseline: 'a part of glass-to-glass (next row)',
        },
        {
          figure: `live glass-to-glass p50 / p95 (${glass.length} frames over 10 s: shown − capture instant burned into the frame)`,
          value: `${fmt.ms(percentile(glass, 50))} / ${fmt.ms(percentile(glass, 95))}`,
          baseline: `GOP ${CODE_MOUNT.gop / CODE_MOUNT.fps} s; fragments ≤ ${RECORD_FRAGMENT_US / 1000} ms; its own camera and Vigil`,
          goal: goal('p95 ≤ 1000 ms', check(percentile(glass, 95), (v) => v <= 1000)),
        },
        {
          figure: 'live: frames presented per second over those 10 s (a jump to the live edge skips frames)',
          value: framesPerSecond.toFixed(1),
          baseline: `${CODE_MOUNT.fps} fps camera`,
          ratio: (framesPerSecond / CODE_MOUNT.fps).toFixed(2) + '×',
        },
        { figure: `recorded click-to-first-frame p50 (${o.samples} clicks)`, value: fmt.ms(rp50), goal: goal('≤ 300 ms', check(rp50, (v) => v <= 300)) },
        { figure: 'recorded click-to-first-frame p95', value: fmt.ms(rp95), goal: goal('≤ 300 ms', check(rp95, (v) => v <= 300)) },
        {
          figure: `newest reviewable footage behind live p50 / p95 (segment_seconds ${SEGMENT_SECONDS})`,
          value: `${fmt.ms(percentile(newest, 50))} / ${fmt.ms(percentile(newest, 95))}`,
          baseline: `the open segment's whole fragments are listed, GOP by GOP: the fragment being written (≤ ${RECORD_FRAGMENT_US / 1000} ms) + reading`,
        },
        { figure: `stall-to-indicator p50 (${stalls.length} freezes, camera page live)`, value: fmt.ms(sp50), goal: goal('≤ 3000 ms', check(sp50, (v) => v <= 3000)) },
        { figure: 'stall-to-indicator max', value: fmt.ms(smax), goal: goal('≤ 3000 ms', check(smax, (v) => v <= 3000)) },
      ],
      data: { liveMs: live, liveBufferLagMs: lag, glassToGlassMs: glass, livePresentedFramesPerSecond: framesPerSecond, recordedMs: recorded, clockAt300msAfterFirstFrameMinusClickMs: errors, newestBehindLiveMs: newest, stallToIndicatorMs: stalls, mount: MOUNT },
    }];
  } finally {
    await browser.close();
    await vigil.app.stop();
    await server.stop();
    await removeDir(vigil.dataDir);
  }
}

/** Opens the camera view by its hash and waits for the first live frame on screen. */
async function openLive(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const t0 = performance.now();
    location.hash = '#/cameras/cam';
    // No named inner functions here: tsx would wrap them in a helper the page does not have.
    let video: HTMLVideoElement | null = null;
    while (!(video = document.querySelector<HTMLVideoElement>('.player video'))) await new Promise((r) => requestAnimationFrame(r));
    await new Promise<void>((resolve) => video!.requestVideoFrameCallback(() => resolve()));
    return performance.now() - t0;
  });
}

/** Glass to glass on a camera of its own: each frame's display instant minus the capture instant burned into it. */
async function measureGlass(browser: Browser): Promise<{ ms: number[]; framesPerSecond: number }> {
  const server = await RtspServer.start({ mounts: [CODE_MOUNT] });
  const vigil = await startVigil({ cameras: [{ id: 'cam', name: 'Glass', main_url: server.url(CODE_MOUNT.name), segment_seconds: SEGMENT_SECONDS }] });
  // bypassCSP: jsQR is added to the page to read the codes (Vigil's CSP forbids inline scripts).
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  try {
    const page = await context.newPage();
    await login(page, vigil);
    await waitFor('recording', async () => ((await (await vigil.api('/cameras/cam/status')).json()) as { state: string }).state === 'recording', 30_000);
    await page.goto(`${vigil.app.url}/#/events`);
    await openLive(page);
    await page.addScriptTag({ path: createRequire(import.meta.url).resolve('jsqr') });
    await page.waitForTimeout(3000);
    return await glassToGlass(page, 10_000);
  } finally {
    await context.close();
    await vigil.app.stop();
    await server.stop();
    await removeDir(vigil.dataDir);
  }
}

/**
 * For `ms`, every frame the live player presents: its expected display instant minus the capture
 * instant in its QR code (read from the bottom-right of the frame with jsQR, loaded into the page).
 * Frames presented while the last one was still being read are skipped.
 */
async function glassToGlass(page: Page, ms: number): Promise<{ ms: number[]; framesPerSecond: number }> {
  return page.evaluate(async (forMs) => {
    const v = document.querySelector<HTMLVideoElement>('.player video')!;
    const read = (window as unknown as { jsQR: (d: Uint8ClampedArray, w: number, h: number, o: object) => { data: string } | null }).jsQR;
    const w = v.videoWidth;
    const h = v.videoHeight;
    const size = Math.round(Math.min(w, h) * 0.45);
    const canvas = document.createElement('canvas');
    canvas.width = size;
    canvas.height = size;
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    const out: number[] = [];
    const end = Date.now() + forMs;
    let first: { frames: number; at: number } | undefined;
    let last: { frames: number; at: number } | undefined;
    // No named inner functions (see openLive).
    while (Date.now() < end) {
      const meta = await new Promise<{ expectedDisplayTime: number; presentedFrames: number }>((r) => v.requestVideoFrameCallback((_now, m) => r(m)));
      first ??= { frames: meta.presentedFrames, at: meta.expectedDisplayTime };
      last = { frames: meta.presentedFrames, at: meta.expectedDisplayTime };
      const shownAt = performance.timeOrigin + meta.expectedDisplayTime;
      ctx.drawImage(v, w - size, h - size, size, size, 0, 0, size, size);
      const code = read(ctx.getImageData(0, 0, size, size).data, size, size, { inversionAttempts: 'dontInvert' });
      const m = /^VTC:(\d+)$/.exec(code?.data ?? '');
      if (m) out.push(shownAt - Number(m[1]));
    }
    // Frames the player presented (skipped ones not: a jump to the live edge skips what it passes over).
    const framesPerSecond = first && last && last.at > first.at ? ((last.frames - first.frames) * 1000) / (last.at - first.at) : 0;
    return { ms: out, framesPerSecond };
  }, ms);
}

/** Clicks a random recorded instant (not the last 8 s) and waits for the first recorded frame on screen. */
async function clickRecorded(page: Page, api: (path: string) => Promise<Response>): Promise<{ ms: number; clockErrorMs: number }> {
  const track = page.getByRole('group', { name: /^Timeline/ });
  const t = (await (await api('/cameras/cam/timeline')).json()) as { spans: { start: string; end: string }[] };
  const span = t.spans.at(-1)!;
  const geo = await track.evaluate((el) => {
    const b = el.getBoundingClientRect();
    return { s: Number(el.dataset.startMs), e: Number(el.dataset.endMs), left: b.left, width: b.width, y: b.top + b.height / 2 };
  });
  const lo = Math.max(Date.parse(span.start) + 1000, geo.s + 1000);
  const hi = Math.min(Date.parse(span.end) - 8000, geo.e - 1000);
  const at = lo + Math.random() * Math.max(0, hi - lo);
  const x = geo.left + ((at - geo.s) / (geo.e - geo.s)) * geo.width;
  // The listener runs before the timeline's own (capture phase); the frame callback is armed once the click was handled.
  const done = page.evaluate(() => new Promise<number>((resolve) => {
    document.addEventListener('pointerup', () => {
      const t0 = performance.now();
      setTimeout(() => {
        const v = document.querySelector<HTMLVideoElement>('.player video')!;
        v.requestVideoFrameCallback(() => resolve(performance.now() - t0));
      }, 0);
    }, { capture: true, once: true });
  }));
  await page.waitForTimeout(50);
  await page.mouse.click(x, geo.y);
  const ms = await done;
  await page.waitForTimeout(300);
  const wall = Number(await page.getByLabel('Time of the frame on screen').getAttribute('data-wall-ms'));
  return { ms, clockErrorMs: wall - at };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { samples: { type: 'string', default: '10' } } });
  const samples = Number(values.samples);
  const sections = await runUi({ samples, log: (m) => void process.stderr.write(`${m}\n`) });
  process.stdout.write(renderTable(sections) + '\n');
  process.exit(0);
}
