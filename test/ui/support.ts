import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { removeDir, type TestVigil } from '../support/harness.js';

const run = promisify(execFile);
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const artifactsDir = join(repoRoot, 'test-artifacts');

/** Debian's chromium (H.264 included); VIGIL_CHROMIUM points elsewhere. */
export const CHROMIUM_PATH = process.env.VIGIL_CHROMIUM ?? '/usr/bin/chromium';

/** Builds dist/web exactly as `npm run build` does (atomic writes, so parallel builds are safe). */
export async function buildWeb(): Promise<void> {
  await run(process.execPath, [join(repoRoot, 'scripts', 'build-web.mjs'), '--quiet'], { cwd: repoRoot });
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--autoplay-policy=no-user-gesture-required'],
  });
}

/**
 * Opens the page and signs in through the login form when this Vigil has authentication
 * (`/api/v1/auth/me` answers 401 without a session); skips the form when it answers 404 (no auth).
 */
export async function login(page: Page, vigil: TestVigil, who?: { username: string; password: string }): Promise<void> {
  const me = await fetch(`${vigil.app.url}/api/v1/auth/me`);
  await page.goto(`${vigil.app.url}/`);
  if (me.status === 404) return;
  const creds = who ?? (vigil as TestVigil & { admin?: { username: string; password: string } }).admin;
  if (!creds) throw new Error('Vigil has authentication but the harness names no admin');
  await page.getByLabel('Username').fill(creds.username);
  await page.getByLabel('Password').fill(creds.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

/**
 * A new context (UTC, 1366×768 unless `options` say otherwise), a page in it whose script errors and CSP
 * refusals are collected, signed in to `vigil`.
 */
export async function signedInPage(
  browser: Browser,
  vigil: TestVigil,
  options: BrowserContextOptions = {},
): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ timezoneId: 'UTC', viewport: { width: 1366, height: 768 }, ...options });
  const page = await context.newPage();
  const problems = watchConsole(page);
  await login(page, vigil);
  return { context, page, problems };
}

/** The end of a Chromium test file: context and browser, then Vigil, the fake cameras and Vigil's data dir. */
export async function closeUiTest(parts: { context?: BrowserContext; browser?: Browser; vigil?: TestVigil; cameras?: { stop(): Promise<void> } }): Promise<void> {
  await parts.context?.close();
  await parts.browser?.close();
  await parts.vigil?.app.stop();
  await parts.cameras?.stop();
  if (parts.vigil) await removeDir(parts.vigil.dataDir);
}

/** Collects script errors and CSP refusals, which a page under a strict CSP must never produce. */
export function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) problems.push(`csp: ${msg.text()}`);
  });
  return problems;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(artifactsDir, { recursive: true });
  const path = join(artifactsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export async function ffprobe(file: string): Promise<{ durationS: number; codec: string | undefined; frames: number }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-count_packets', '-show_entries', 'format=duration:stream=codec_name,nb_read_packets', '-of', 'json', file]);
  const j = JSON.parse(stdout) as { format: { duration?: string }; streams: { codec_name?: string; nb_read_packets?: string }[] };
  return { durationS: Number(j.format.duration), codec: j.streams[0]?.codec_name, frames: Number(j.streams[0]?.nb_read_packets ?? 0) };
}

/** The wall-clock time the player's clock shows (`YYYY-MM-DD HH:MM:SS` in the page's zone, UTC in these tests). */
export function parseClock(text: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, hh, mi, ss] = m.map(Number) as number[];
  return Date.UTC(y!, mo! - 1, d!, hh!, mi!, ss!);
}
