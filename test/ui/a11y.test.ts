import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../support/harness.js';
import { buildWeb, launchChromium, login, repoRoot, screenshot } from './support.js';

type Timeline = { spans: { start: string; end: string }[] };
interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

const AXE = join(repoRoot, 'node_modules', 'axe-core', 'axe.min.js');
const SIZES = [
  { name: '1366x768', width: 1366, height: 768 },
  { name: '390x844', width: 390, height: 844 },
] as const;

/**
 * Every page of the operator console, in real Chromium against a real Vigil with a real camera, at a
 * desktop and a phone size: axe-core finds no serious or critical violation, each page is saved as a
 * screenshot, and on the phone every control is at least 44 px tall.
 */
describe('operator console: accessibility of every page', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  let browser: Browser;
  let pages: { name: string; hash: string; ready?: (p: Page) => Promise<void> }[] = [];

  beforeAll(async () => {
    const built = buildWeb();
    server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    vigil = await startVigil({
      cameras: [{ id: 'cam1', name: 'Gate', main_url: server.url('cam1'), segment_seconds: 2 }],
      webhooks: { allow_private_networks: true },
    });
    browser = await launchChromium();
    await built;
    const t = await waitFor('12 s recorded', async () => {
      const tl = (await (await vigil.api('/cameras/cam1/timeline')).json()) as Timeline;
      const s = tl.spans[0];
      return s && Date.parse(s.end) - Date.parse(s.start) >= 12_000 ? s : undefined;
    }, 90_000, 500);
    const json = { 'content-type': 'application/json' };
    // Something on every list: a held incident, an export, a webhook.
    const end = Date.parse(t.end);
    await vigil.api('/cameras/cam1/evidence-lock', { method: 'POST', headers: json, body: JSON.stringify({ from: new Date(end - 6_000).toISOString(), to: new Date(end).toISOString(), incident_id: 'case-a11y' }) });
    await vigil.api('/exports', { method: 'POST', headers: json, body: JSON.stringify({ camera_ids: ['cam1'], from: new Date(end - 6_000).toISOString(), to: new Date(end - 2_000).toISOString(), reason: 'accessibility check' }) });
    const hook = await vigil.api('/webhooks', { method: 'POST', headers: json, body: JSON.stringify({ url: 'http://127.0.0.1:9/hook', events: ['recording_gap'] }) });
    const hookId = hook.ok ? ((await hook.json()) as { id: number }).id : null;
    const playing = async (p: Page) => {
      await p.locator('.player video').evaluate((v: HTMLVideoElement) => new Promise<void>((r) => (v.readyState >= 2 ? r() : v.addEventListener('loadeddata', () => r(), { once: true }))));
    };
    pages = [
      { name: 'grid', hash: '#/' },
      { name: 'views', hash: '#/views' },
      { name: 'camera-live', hash: '#/cameras/cam1', ready: playing },
      // Same hash as the page before (no new mount): the calendar opens over the live page.
      { name: 'camera-calendar', hash: '#/cameras/cam1', ready: async (p) => { await p.getByRole('button', { name: 'Calendar' }).click(); await p.locator('.cal-day').first().waitFor(); } },
      { name: 'camera-review', hash: `#/cameras/cam1?t=${new Date(end - 8_000).toISOString()}`, ready: playing },
      { name: 'camera-shortcuts', hash: '#/cameras/cam1', ready: async (p) => { await p.getByRole('button', { name: 'Keyboard shortcuts' }).click(); } },
      { name: 'camera-new', hash: '#/cameras/new' },
      { name: 'camera-edit', hash: '#/cameras/cam1/edit' },
      { name: 'camera-motion', hash: '#/cameras/cam1/motion' },
      { name: 'events', hash: '#/events' },
      { name: 'holds', hash: '#/holds' },
      { name: 'exports', hash: '#/exports' },
      { name: 'users', hash: '#/users' },
      { name: 'account', hash: '#/account' },
      { name: 'webhooks', hash: '#/webhooks' },
      ...(hookId === null ? [] : [{ name: 'webhook-ledger', hash: `#/webhooks/${hookId}` }]),
    ];
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await vigil?.app.stop();
    await server?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  /** axe-core's serious and critical findings on the page as it is now. */
  async function axe(page: Page): Promise<string[]> {
    if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: AXE });
    const violations = await page.evaluate(async () => {
      const r = await (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: AxeViolation[] }> } }).axe.run(document, { resultTypes: ['violations'] });
      return r.violations;
    });
    return violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id} (${v.help}): ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(' | ')}`);
  }

  /** Controls under 44 px tall on the phone (and buttons under 44 px wide). */
  function smallTargets(page: Page): Promise<string[]> {
    return page.evaluate(() => {
      const out: string[] = [];
      const sel = 'button, a.button, select, input, .topnav a';
      for (const el of document.querySelectorAll<HTMLElement>(sel)) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0 || el.closest('[hidden], dialog:not([open])')) continue;
        if (r.height < 44 || (el.tagName === 'BUTTON' && r.width < 44)) out.push(`${el.tagName.toLowerCase()} "${(el.textContent || el.getAttribute('aria-label') || el.id).trim().slice(0, 30)}" ${Math.round(r.width)}×${Math.round(r.height)}`);
      }
      return out;
    });
  }

  /** Elements reaching past the right edge of a phone screen (the page would scroll sideways). */
  function overflowing(page: Page, width: number): Promise<string[]> {
    return page.evaluate((w) => {
      if (document.documentElement.scrollWidth <= w) return [];
      const out: string[] = [`page ${document.documentElement.scrollWidth} px wide`];
      for (const el of document.querySelectorAll<HTMLElement>('main *')) {
        const r = el.getBoundingClientRect();
        if (r.right > w + 0.5 && !el.closest('.table-wrap, [hidden]') && getComputedStyle(el).position !== 'fixed') out.push(`${el.tagName.toLowerCase()}.${el.className} ends at ${Math.round(r.right)}`);
      }
      return out.slice(0, 8);
    }, width);
  }

  for (const size of SIZES) {
    it(`every page at ${size.name}: no serious or critical axe violation, a screenshot, and (phone) 44 px targets`, async () => {
      // The page's CSP forbids injected scripts: this context lets the axe script in, nothing else changes.
      const context = await browser.newContext({ timezoneId: 'UTC', viewport: { width: size.width, height: size.height }, bypassCSP: true, hasTouch: size.width < 600 });
      const found: Record<string, string[]> = {};
      const small: Record<string, string[]> = {};
      try {
        const page = await context.newPage();
        await page.goto(`${vigil.app.url}/`);
        await page.getByLabel('Username').waitFor();
        await screenshot(page, `login-${size.name}`);
        const loginIssues = await axe(page);
        if (loginIssues.length) found.login = loginIssues;
        await login(page, vigil);
        for (const p of pages) {
          await page.goto(`${vigil.app.url}/${p.hash}`);
          await page.locator('main h1').first().waitFor();
          await page.waitForLoadState('networkidle').catch(() => {});
          if (p.ready) await p.ready(page);
          await page.waitForTimeout(300);
          await screenshot(page, `${p.name}-${size.name}`);
          const issues = await axe(page);
          if (issues.length) found[p.name] = issues;
          if (size.width < 600) {
            const s = [...await smallTargets(page), ...await overflowing(page, size.width)];
            if (s.length) small[p.name] = s;
          }
        }
      } finally {
        await context.close();
      }
      expect(found).toEqual({});
      expect(small).toEqual({});
    }, 240_000);
  }
});
