import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { startVigil, waitFor, type TestVigil } from '../support/harness.js';
import { buildWeb, closeUiTest, launchChromium, login, parseClock, screenshot, signedInPage } from './support.js';

type Timeline = { spans: { start: string; end: string }[] };
type AuditEntry = { action: string; actor_name: string | null; outcome: string; target: string | null; detail: Record<string, unknown> | null };
type EventRow = { id: number; ts: string; type: string; camera_id: string | null };

/**
 * The case-work pages in real Chromium against a real Vigil recording a real RTSP camera: an event row plays
 * its moment; a hold added and released with a reason on the holds page is in the audit trail with that
 * reason; export jobs show their state and download; users, API keys and one's own password are managed.
 */
describe('operator console: case work', () => {
  let server: RtspServer;
  let vigil: TestVigil;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  const timeline = async () => (await (await vigil.api('/cameras/cam1/timeline')).json()) as Timeline;

  beforeAll(async () => {
    const built = buildWeb();
    server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    vigil = await startVigil({ cameras: [{ id: 'cam1', name: 'Loading bay', main_url: server.url('cam1'), segment_seconds: 2 }] });
    browser = await launchChromium();
    await built;
    await waitFor('20 s recorded', async () => {
      const s = (await timeline()).spans[0];
      return s && Date.parse(s.end) - Date.parse(s.start) >= 20_000;
    }, 90_000, 500);
    ({ context, page, problems } = await signedInPage(browser, vigil, { acceptDownloads: true }));
  }, 150_000);

  afterAll(() => closeUiTest({ context, browser, vigil, cameras: server }));

  it('clicking an event row plays that moment of its camera', async () => {
    // An event at a known instant with footage before it: a hold of the last 10 recorded seconds.
    const end = Date.parse((await timeline()).spans[0]!.end);
    const res = await vigil.api('/cameras/cam1/evidence-lock', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: new Date(end - 10_000).toISOString(), to: new Date(end).toISOString(), incident_id: 'case-event' }),
    });
    expect(res.status).toBe(200);
    const { events } = (await (await vigil.api('/events?type=evidence_locked&camera_id=cam1')).json()) as { events: EventRow[] };
    const ev = events[0]!;
    const at = Date.parse(ev.ts);

    await page.goto(`${vigil.app.url}/#/events`);
    await page.getByLabel('Type').fill('evidence_locked');
    await page.getByRole('button', { name: 'Show' }).click();
    const row = page.locator(`tr[data-event-id="${ev.id}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('evidence_locked');
    await screenshot(page, 'events-1366x768');
    await row.locator('td').first().click();
    await page.waitForURL(/#\/cameras\/cam1\?t=/);
    const clock = page.getByLabel('Time of the frame on screen');
    const shown = await waitFor('the event\'s moment on screen', async () => {
      const ms = parseClock((await clock.textContent()) ?? '');
      const playing = await page.locator('.player video').evaluate((v: HTMLVideoElement) => !v.paused && v.readyState >= 2);
      return playing && ms !== null ? ms : undefined;
    }, 20_000, 200);
    // The row plays from 5 s before its instant.
    expect(Math.abs(shown - (at - 5_000))).toBeLessThanOrEqual(2_500);
    expect(await page.locator('.camera-page').getAttribute('data-mode')).toBe('recorded');
  });

  it('a hold added on the holds page and released there with a reason is audited, reason included', async () => {
    const end = Date.parse((await timeline()).spans[0]!.end);
    const from = new Date(end - 16_000).toISOString().slice(0, 19);
    const to = new Date(end - 12_000).toISOString().slice(0, 19);
    await page.goto(`${vigil.app.url}/#/holds`);
    await page.getByLabel('Camera', { exact: true }).selectOption('cam1');
    await page.getByLabel('From', { exact: true }).fill(from);
    await page.getByLabel('To', { exact: true }).fill(to);
    await page.getByLabel('Incident id').fill('case-ui-7');
    await page.getByRole('button', { name: 'Hold', exact: true }).click();
    await expect.poll(() => page.locator('.message').textContent()).toMatch(/^Held [1-9]\d* segment\(s\), .* for incident case-ui-7\.$/);
    const row = page.locator('tr[data-incident="case-ui-7"]');
    await row.waitFor();
    await screenshot(page, 'holds-1366x768');
    const held = async () => ((await (await vigil.api('/incidents/case-ui-7/segments')).json()) as { segments: { evidence_locked: boolean }[] }).segments;
    expect((await held()).every((s) => s.evidence_locked)).toBe(true);

    // Without a reason nothing is released.
    await row.getByRole('button', { name: 'Release' }).click();
    expect((await held()).every((s) => s.evidence_locked)).toBe(true);
    await row.getByLabel('Reason').fill('Case closed by the insurer, ref 77');
    await row.getByRole('button', { name: 'Release' }).click();
    await expect.poll(() => page.locator('.message').textContent()).toMatch(/^Released [1-9]\d* segment\(s\) of incident case-ui-7\.$/);
    expect((await held()).some((s) => s.evidence_locked)).toBe(false);

    const audit = async (action: string) => ((await (await vigil.api(`/audit?action=${action}&target=camera:cam1`)).json()) as { entries: AuditEntry[] }).entries;
    const lock = (await audit('evidence.lock')).find((e) => e.detail?.incident_id === 'case-ui-7');
    expect(lock).toMatchObject({ actor_name: 'admin', outcome: 'success' });
    const unlock = (await audit('evidence.unlock'))[0];
    expect(unlock).toMatchObject({ actor_name: 'admin', outcome: 'success', detail: { incident_id: 'case-ui-7', reason: 'Case closed by the insurer, ref 77' } });
  });

  it('the exports page lists evidence-export jobs with their state; a finished one downloads and its bundle can be deleted', async () => {
    const end = Date.parse((await timeline()).spans[0]!.end);
    const res = await vigil.api('/exports', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ camera_ids: ['cam1'], from: new Date(end - 8_000).toISOString(), to: new Date(end - 4_000).toISOString(), reason: 'UI test export' }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await page.goto(`${vigil.app.url}/#/exports`);
    const row = page.locator(`tr[data-export-id="${id}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('UI test export');
    // The list refreshes itself while a job runs: "Ready" appears without a reload.
    await expect.poll(() => row.getAttribute('data-state'), { timeout: 60_000 }).toBe('done');
    await screenshot(page, 'exports-1366x768');
    const [dl] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: 'Download' }).click()]);
    expect(dl.suggestedFilename()).toBe(`vigil-${id}.zip`);
    page.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => row.getAttribute('data-state')).toBe('deleted');
    const job = (await (await vigil.api(`/exports/${id}`)).json()) as { state: string };
    expect(job.state).toBe('deleted');
  });

  it('users and API keys: add a user, change a role, create a key shown once, revoke it', async () => {
    await page.goto(`${vigil.app.url}/#/users`);
    await page.getByLabel('Username').fill('op1');
    await page.getByLabel('Password (at least 10 characters)').fill('op1 password long');
    await page.getByLabel('Role', { exact: true }).first().selectOption('operator');
    await page.getByRole('button', { name: 'Add user' }).click();
    const row = page.locator('tr[data-user="op1"]');
    await row.waitFor();
    await row.getByLabel('Role of op1').selectOption('viewer');
    await expect.poll(() => page.locator('.message').textContent()).toBe('op1 is now viewer.');
    await row.getByLabel('Cameras of op1 (all, or ids)').fill('cam1');
    await row.getByRole('button', { name: 'Save cameras of op1' }).click();
    await expect.poll(() => page.locator('.message').textContent()).toBe('op1 now sees cam1.');
    const users = ((await (await vigil.api('/users')).json()) as { users: { username: string; role: string; cameras: unknown }[] }).users;
    expect(users.find((u) => u.username === 'op1')).toMatchObject({ role: 'viewer', cameras: ['cam1'] });

    await page.getByLabel('Name', { exact: true }).fill('door-panel');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = await page.getByLabel('API key door-panel').inputValue();
    expect(key.length).toBeGreaterThan(20);
    const me = await fetch(`${vigil.app.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${key}` } });
    expect(me.status).toBe(200);
    await screenshot(page, 'users-1366x768');
    await page.locator('tr[data-key="door-panel"]').getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => page.locator('tr[data-key="door-panel"]').textContent()).toContain('Revoked');
    expect((await fetch(`${vigil.app.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(401);
  });

  it('on a phone: events read as cards without sideways scrolling, and a swipe on the timeline moves its window', async () => {
    const ctx = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    try {
      const p = await ctx.newPage();
      await login(p, vigil);
      await p.goto(`${vigil.app.url}/#/events`);
      const row = p.locator('tbody tr').first();
      await row.waitFor();
      expect(await row.evaluate((r) => getComputedStyle(r).display)).toBe('block');
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      // Each field is named on the card (the table's header is hidden there).
      expect(await row.locator('td').first().evaluate((td) => getComputedStyle(td, '::before').content)).toBe('"Time"');
      await screenshot(p, 'events-390x844');

      await p.goto(`${vigil.app.url}/#/cameras/cam1`);
      const track = p.getByRole('group', { name: /^Timeline/ });
      await p.locator('.timeline[data-loaded="true"]').waitFor();
      await track.scrollIntoViewIfNeeded();
      const box = (await track.boundingBox())!;
      const before = Number(await track.getAttribute('data-start-ms'));
      const len = Number(await track.getAttribute('data-end-ms')) - before;
      // A real touch swipe to the right (Chromium turns it into touch pointer events): earlier footage.
      const cdp = await ctx.newCDPSession(p);
      const y = box.y + box.height / 2;
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [{ x: box.x + 60, y }] });
      for (let i = 1; i <= 10; i++) await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [{ x: box.x + 60 + i * 20, y }] });
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
      const after = Number(await track.getAttribute('data-start-ms'));
      expect(before - after).toBeGreaterThan(len * 0.25);
      // A swipe neither selects a range nor starts playback.
      expect(await p.locator('.tl-selection').isHidden()).toBe(true);
      expect(await p.locator('.camera-page').getAttribute('data-mode')).toBe('live');
    } finally {
      await ctx.close();
    }
  });

  it('a user changes their own password on the account page (linked from their name in the menu)', async () => {
    const created = await vigil.api('/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'op2', password: 'first password 1', role: 'operator' }),
    });
    expect(created.status).toBe(201);
    const ctx = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 390, height: 844 } });
    try {
      const p = await ctx.newPage();
      await login(p, vigil, { username: 'op2', password: 'first password 1' });
      await p.getByRole('link', { name: 'op2 (operator)' }).click();
      await p.getByLabel('Current password').fill('first password 1');
      await p.getByLabel('New password', { exact: true }).fill('second password 2');
      await p.getByLabel('New password again').fill('second password 2');
      await p.getByRole('button', { name: 'Change password' }).click();
      await expect.poll(() => p.locator('.message').textContent()).toBe('Password changed.');
      await screenshot(p, 'account-390x844');
    } finally {
      await ctx.close();
    }
    const ok = await fetch(`${vigil.app.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'op2', password: 'second password 2' }),
    });
    expect(ok.status).toBe(200);
    expect(problems).toEqual([]);
  });
});
