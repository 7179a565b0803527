import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/webhooks/signature.js';
import { removeDir, startVigil, type TestVigil } from '../support/harness.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { buildWeb, launchChromium, login, screenshot, watchConsole } from './support.js';

/** The admin's Webhooks page in real Chromium against a real Vigil and a real receiver on loopback. */
describe('webhooks web UI', () => {
  let vigil: TestVigil;
  let receiver: WebhookReceiver;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    const built = buildWeb();
    receiver = await WebhookReceiver.start();
    vigil = await startVigil({ webhooks: { allow_private_networks: ['127.0.0.0/8'], timeout_seconds: 2, backoff_initial_ms: 200, backoff_max_ms: 1000 } });
    browser = await launchChromium();
    await built;
    context = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    problems = watchConsole(page);
    await login(page, vigil);
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await vigil?.app.stop();
    await receiver?.stop();
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('adds a webhook (a refused URL shown at its field, the secret shown once), sends a test that the ledger shows delivered, edits, disables and deletes it', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
    await expect.poll(() => page.getByRole('status').first().textContent()).toBe('No webhooks yet.');

    // A private address outside the allowance: the API's 400 lands next to the URL field.
    await page.getByLabel('Name').fill('Ops');
    await page.getByLabel('Receiver URL').fill('http://10.0.0.1/hook');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    await expect.poll(() => page.locator('[data-field="url"]').textContent()).toMatch(/private address/);

    await page.getByLabel('Receiver URL').fill(receiver.url());
    await page.getByLabel('Event types').fill('webhook_test, camera_created');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    const secret = (await page.locator('#webhook-secret').textContent({ timeout: 10_000 })) ?? '';
    expect(secret).toMatch(/^whsec_/);
    const row = page.locator('tr[data-webhook-id]');
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.locator('td').nth(2).textContent()).toBe('camera_created, webhook_test');

    // Gone once the page is left: never shown again, by the page or the API.
    await page.getByRole('link', { name: 'Ops' }).click();
    await page.getByRole('heading', { name: /^Webhook \d+$/ }).waitFor();
    expect(await page.content()).not.toContain(secret);
    expect(await (await vigil.api('/webhooks')).text()).not.toContain(secret);

    await page.getByRole('button', { name: 'Send test' }).click();
    const delivery = page.locator('tr[data-delivery-id]');
    await expect.poll(() => delivery.locator('.delivery-status').textContent(), { timeout: 15_000 }).toBe('delivered');
    const deliveryId = await delivery.getAttribute('data-delivery-id');
    const got = receiver.for(deliveryId ?? '');
    expect(got).toHaveLength(1);
    expect(verifySignature(got[0]!.headers['x-vigil-signature'] as string, got[0]!.body, secret, Math.floor(Date.now() / 1000)).ok).toBe(true);
    await screenshot(page, 'webhook-ledger');

    // Redeliver: the same delivery id reaches the receiver again.
    await delivery.getByRole('button', { name: 'Redeliver' }).click();
    await expect.poll(() => receiver.for(deliveryId ?? '').length, { timeout: 15_000 }).toBe(2);

    // Edit.
    await page.getByLabel('Name').fill('Ops room');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect.poll(async () => ((await (await vigil.api('/webhooks')).json()) as { webhooks: Array<{ name: string }> }).webhooks[0]?.name).toBe('Ops room');

    // Disable, then delete, from the list.
    await page.getByRole('link', { name: 'All webhooks' }).click();
    await page.getByRole('button', { name: 'Disable' }).click();
    await expect.poll(() => row.locator('.webhook-state').textContent()).toBe('disabled');
    expect(((await (await vigil.api('/webhooks')).json()) as { webhooks: Array<{ enabled: boolean }> }).webhooks[0]?.enabled).toBe(false);
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Yes, delete Ops room' }).click();
    await expect.poll(() => row.count()).toBe(0);
    expect(((await (await vigil.api('/webhooks')).json()) as { webhooks: unknown[] }).webhooks).toEqual([]);
    expect(problems).toEqual([]);
  });
});
