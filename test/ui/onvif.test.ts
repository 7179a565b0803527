import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { TestVigil } from '../support/harness.js';
import { createNetns, forwardToUnixSocket, type Netns, type NetnsChild } from '../support/netns.js';
import { buildWeb, launchChromium, login, screenshot, watchConsole } from './support.js';

/**
 * "Add camera via ONVIF" in Chromium. Discovery multicasts, so Vigil runs inside a network namespace of
 * its own next to a fake ONVIF camera and its WS-Discovery responder (test/support/onvif-netns-child.ts);
 * the browser reaches it through a Unix socket (those cross namespaces) forwarded to a local port.
 */
let ns: Netns | undefined;
let child: NetnsChild | undefined;
let forward: { url: string; close(): Promise<void> } | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  await forward?.close();
  await child?.stop();
  await ns?.delete();
});

describe('the cameras admin page over ONVIF', () => {
  it('discovers a camera, inspects it, warns of its drifting clock, and adds it with main and sub streams filled in', async (ctx) => {
    const made = await createNetns();
    if (typeof made === 'string') {
      console.warn(`SKIPPED ONVIF UI test: ${made}`);
      ctx.skip();
      return;
    }
    ns = made;
    const socketPath = join(tmpdir(), `vigil-onvif-${randomBytes(4).toString('hex')}.sock`);
    child = ns.node('test/support/onvif-netns-child.ts', ['serve', JSON.stringify({ socketPath, clockOffsetMs: 8000 })]);
    const [info] = await Promise.all([child.firstJson<{ xaddr: string; admin: { username: string; password: string } }>(90_000), buildWeb()]);
    forward = await forwardToUnixSocket(socketPath);
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = watchConsole(page);
    await login(page, { app: { url: forward.url }, admin: info.admin } as unknown as TestVigil);

    await page.goto(`${forward.url}/#/cameras/new`);
    const panel = page.getByRole('region', { name: 'Add camera via ONVIF' });
    await panel.getByRole('button', { name: 'Discover cameras' }).click();
    await panel.getByRole('button', { name: 'Use Lobby Cam' }).click();
    await expect.poll(() => page.locator('#onvif-address').inputValue()).toBe(info.xaddr);

    // A wrong password is shown under the password field.
    await page.getByLabel('Camera user name').fill('admin');
    await page.getByLabel('Camera password').fill('not-it');
    await panel.getByRole('button', { name: 'Inspect' }).click();
    await expect.poll(() => page.locator('#err-onvif-password').textContent()).toContain('refused the user name or password');

    await page.getByLabel('Camera password').fill('cam-secret');
    await panel.getByRole('button', { name: 'Inspect' }).click();
    await expect.poll(() => page.locator('#onvif-clock').textContent(), { timeout: 15_000 }).toContain('More than 2 s off');
    expect(await page.locator('#err-onvif-password').textContent()).toBe('');
    expect(await page.locator('#onvif-device').textContent()).toContain('serial 0012345');
    expect(await page.getByRole('table', { name: 'Media profiles' }).locator('tbody tr').count()).toBe(2);
    await screenshot(page, 'onvif-inspect');

    await panel.getByRole('button', { name: 'Add this camera' }).click();
    expect(await page.locator('#cam-id').inputValue()).toBe('fk-2040-127-0-0-1');
    expect(await page.locator('#cam-main_url').inputValue()).toBe('rtsp://admin:cam-secret@127.0.0.1:554/Streaming/Channels/101');
    expect(await page.locator('#cam-sub_url').inputValue()).toBe('rtsp://admin:cam-secret@127.0.0.1:554/Streaming/Channels/102');
    expect(await page.locator('#cam-onvif_url').inputValue()).toBe(info.xaddr);
    await page.getByLabel('Record this camera').uncheck();
    await page.getByRole('form', { name: 'Add camera' }).getByRole('button', { name: 'Add camera' }).click();
    await page.waitForURL(/#\/cameras\/fk-2040-127-0-0-1$/);
    const saved = await page.evaluate(async () => (await fetch('api/v1/cameras/fk-2040-127-0-0-1')).json()) as { main_url: string; sub_url: string; onvif_url: string };
    expect(saved).toMatchObject({
      main_url: 'rtsp://admin:***@127.0.0.1:554/Streaming/Channels/101',
      sub_url: 'rtsp://admin:***@127.0.0.1:554/Streaming/Channels/102',
      onvif_url: info.xaddr,
    });
    expect(problems).toEqual([]);
  });
});
