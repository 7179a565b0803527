import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyBundle } from '../../src/evidence/verify.js';
import {
  bundleEntries,
  makeBundleFixture,
  manifestBytes,
  manifestSignature,
  signChainHash,
  zipEntries,
  type BundleFixture,
  type BundleManifest,
} from '../support/bundle-fixture.js';
import { launchChromium, repoRoot, watchConsole } from './support.js';

/** Sizes the page hashes with: entries above `wholeEntryLimit` go through its own SHA-256 in `chunkBytes` reads. */
interface HashOptions {
  wholeEntryLimit?: number;
  chunkBytes?: number;
}

interface PageResult {
  valid: boolean;
  findings: string[];
  fingerprint: string | null;
}

declare global {
  interface Window {
    vigilVerify(file: Blob, expectedFingerprint?: string, options?: HashOptions): Promise<PageResult>;
  }
}

const PAGE = join(repoRoot, 'src', 'evidence', 'verify-page.html');

/**
 * verify.html, the bundle verifier that runs offline in a browser, in real Chromium from file://: a
 * bundle built from docs/evidence.md in Node, then each way of tampering with it. Every verdict is also
 * asked of `vigil verify` (src/evidence/verify.ts), so the page and the CLI cannot drift apart.
 */
describe('verify.html (offline bundle verifier)', () => {
  let browser: Browser;
  let page: Page;
  let problems: string[];
  let work: string;
  let fx: BundleFixture;
  let good: Buffer;

  beforeAll(async () => {
    const [b, dir, html] = await Promise.all([launchChromium(), mkdtemp(join(tmpdir(), 'vigil-verify-page-')), readFile(PAGE)]);
    browser = b;
    work = dir;
    fx = makeBundleFixture(html);
    good = await zipEntries(bundleEntries(fx));
    page = await browser.newPage();
    problems = watchConsole(page);
    await page.goto(`file://${PAGE}`);
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** The page's verdict, through window.vigilVerify with the bytes as a File. */
  const inPage = (zip: Buffer, expectedFingerprint?: string, options?: HashOptions): Promise<PageResult> =>
    page.evaluate(
      async ({ b64, fp, opts }) => {
        const bin = atob(b64);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        return window.vigilVerify(new File([bytes], 'bundle.zip', { type: 'application/zip' }), fp, opts);
      },
      { b64: zip.toString('base64'), fp: expectedFingerprint, opts: options },
    );

  let n = 0;
  /** The page's verdict, checked against `vigil verify`'s on the same bytes: same validity, same findings. */
  const verify = async (zip: Buffer, expectedFingerprint?: string, opts: { sameFindings?: boolean } = {}): Promise<PageResult> => {
    const file = join(work, `bundle-${++n}.zip`);
    await writeFile(file, zip);
    const [fromPage, fromCli] = await Promise.all([inPage(zip, expectedFingerprint), verifyBundle(file, { fingerprint: expectedFingerprint })]);
    expect(fromPage.valid, `page: ${fromPage.findings.join('; ')} / cli: ${fromCli.findings.join('; ')}`).toBe(fromCli.valid);
    // Zip faults are worded by the zip reader (yauzl in the CLI), so only the verdicts compare there.
    if (opts.sameFindings ?? true) expect(fromPage.findings).toEqual(fromCli.findings);
    return fromPage;
  };

  const withManifest = (change: (m: BundleManifest) => void): BundleManifest => {
    const m = structuredClone(fx.manifest);
    change(m);
    return m;
  };

  it('an untouched bundle is VALID, with its fingerprint', async () => {
    expect(await verify(good)).toEqual({ valid: true, findings: [], fingerprint: fx.fingerprint });
    // Pinned to the right key (pasted in capitals, with spaces) it stays valid.
    const pinned = fx.fingerprint.toUpperCase().replace(/(.{8})/g, '$1 ');
    expect(await inPage(good, pinned)).toEqual({ valid: true, findings: [], fingerprint: fx.fingerprint });
    // ZIP64 structures throughout (what a bundle over 4 GiB has) read the same.
    expect(await verify(await zipEntries(bundleEntries(fx), { zip64: true }))).toEqual({ valid: true, findings: [], fingerprint: fx.fingerprint });
    // Hashed in chunks by the page's own SHA-256 (the path for entries too large for one digest call),
    // in reads that split 64-byte blocks; and, on a small bundle (entry sizes that leave 56 and 16 bytes
    // for the final block), in reads shorter than one block.
    expect(await inPage(good, undefined, { wholeEntryLimit: 0, chunkBytes: 1000 })).toEqual({ valid: true, findings: [], fingerprint: fx.fingerprint });
    const small = makeBundleFixture(fx.files[4]![1], { clipBytes: 3000, segmentBytes: 2000 });
    const smallZip = await zipEntries(bundleEntries(small));
    expect(await inPage(smallZip, undefined, { wholeEntryLimit: 0, chunkBytes: 61 })).toEqual({ valid: true, findings: [], fingerprint: small.fingerprint });
  });

  it('the form: choosing the file shows VALID, the fingerprint, no findings, and the tables', async () => {
    await page.setInputFiles('#bundle', { name: 'bundle.zip', mimeType: 'application/zip', buffer: good });
    const verdict = page.locator('#verdict[data-verdict="valid"], #verdict[data-verdict="invalid"]');
    await verdict.waitFor();
    expect(await page.locator('#verdict').getAttribute('data-verdict')).toBe('valid');
    expect(await page.locator('#verdict').textContent()).toMatch(/^VALID/);
    expect(await page.locator('#fingerprint').textContent()).toBe(fx.fingerprint);
    expect(await page.locator('#findings li').count()).toBe(0);
    const tables = await page.locator('#details table').allTextContents();
    expect(tables.join('\n')).toContain('clips/front.mp4');
    expect(tables.join('\n')).toContain(fx.manifest.cameras[0]!.segments[1]!.chain.chain_hash);
    expect(await page.locator('#details').textContent()).toContain('insurance claim 4711');
  });

  it('a bit flipped inside clips/front.mp4 is INVALID, naming it (both hashing paths, and in the form)', async () => {
    const clip = fx.files[0]![1];
    const at = good.indexOf(clip.subarray(4096, 4160));
    expect(at).toBeGreaterThan(0);
    const flipped = Buffer.from(good);
    flipped[at + 7]! ^= 0x10;
    const r = await verify(flipped);
    expect(r.valid).toBe(false);
    expect(r.findings).toEqual(['clips/front.mp4: SHA-256 does not match the manifest (the file\'s bytes changed)']);
    expect((await inPage(flipped, undefined, { wholeEntryLimit: 0, chunkBytes: 1000 })).findings).toEqual(r.findings);

    await page.setInputFiles('#bundle', { name: 'flipped.zip', mimeType: 'application/zip', buffer: flipped });
    await page.locator('#verdict[data-verdict="invalid"]').waitFor();
    expect(await page.locator('#verdict').textContent()).toMatch(/^INVALID/);
    expect(await page.locator('#findings li').allTextContents()).toEqual(r.findings);
  });

  it('a dropped file is verified like a chosen one', async () => {
    await page.evaluate(async (b64) => {
      const bin = atob(b64);
      const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'dropped.zip', { type: 'application/zip' }));
      document.getElementById('drop-zone')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, good.toString('base64'));
    await page.locator('#verdict[data-verdict="valid"]').waitFor();
    expect(await page.locator('#bundle-name').textContent()).toContain('dropped.zip');
  });

  it('manifest.json altered, the old signature kept: INVALID, naming the signature', async () => {
    const altered = withManifest((m) => void (m.reason = 'nothing to see here'));
    const oldSignature = manifestSignature(fx.privateKey, manifestBytes(fx.manifest));
    const r = await verify(await zipEntries(bundleEntries(fx, { manifest: altered, signature: oldSignature })));
    expect(r.valid).toBe(false);
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]).toMatch(/^manifest\.sig: the signature does not verify/);
  });

  it('manifest.sig by another key: INVALID', async () => {
    const other = generateKeyPairSync('ed25519').privateKey;
    const r = await verify(await zipEntries(bundleEntries(fx, { signature: manifestSignature(other, manifestBytes(fx.manifest)) })));
    expect(r.valid).toBe(false);
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]).toMatch(/^manifest\.sig: the signature does not verify/);
    expect(r.fingerprint).toBe(fx.fingerprint);
  });

  it('an entry the manifest does not list: INVALID, naming it', async () => {
    const r = await verify(await zipEntries(bundleEntries(fx, { extra: [['notes.txt', Buffer.from('planted')]] })));
    expect(r.valid).toBe(false);
    expect(r.findings).toEqual(['notes.txt: in the bundle but not in the manifest']);
  });

  it('an entry twice: INVALID', async () => {
    const entries = bundleEntries(fx);
    entries.splice(1, 0, entries[0]!);
    const r = await verify(await zipEntries(entries));
    expect(r.valid).toBe(false);
    expect(r.findings).toContain('clips/front.mp4: appears twice in the zip');
  });

  it("a segment's chain_hash changed, link and manifest re-signed with the right key: INVALID, naming that link only", async () => {
    const forged = withManifest((m) => {
      const chain = m.cameras[0]!.segments[1]!.chain;
      chain.chain_hash = 'ab'.repeat(32);
      chain.signature = signChainHash(fx.privateKey, chain.chain_hash);
    });
    const r = await verify(await zipEntries(bundleEntries(fx, { manifest: forged })));
    expect(r.valid).toBe(false);
    expect(r.findings).toEqual(['segment 12 (front): chain_hash does not recompute from its facts (its times, size or hash were changed)']);
  });

  it('bytes appended after the end of the zip: INVALID', async () => {
    // The CLI's zip reader also refuses the file outright; the page reads on, and finds nothing else wrong.
    const r = await verify(Buffer.concat([good, Buffer.from('appended after signing')]), undefined, { sameFindings: false });
    expect(r.valid).toBe(false);
    expect(r.findings).toEqual(['22 bytes follow the end of the zip: the file was appended to']);
  });

  it('pinned to another fingerprint: INVALID, naming both', async () => {
    const expected = 'c0ffee'.padEnd(64, '0');
    const r = await verify(good, expected);
    expect(r.valid).toBe(false);
    expect(r.findings).toEqual([`public-key.pem: fingerprint ${fx.fingerprint} is not the expected ${expected}`]);
  });

  it('not a zip, a truncated zip, an empty file: INVALID with a reason, never a page error', async () => {
    for (const garbage of [randomBytes(5000), Buffer.from('just some text\n'), good.subarray(0, good.length >> 1), good.subarray(0, good.length - 30), Buffer.alloc(0)]) {
      const r = await verify(garbage, undefined, { sameFindings: false });
      expect(r.valid).toBe(false);
      expect(r.findings.length).toBeGreaterThan(0);
      expect(r.fingerprint).toBeNull();
    }
    // A zip whose central directory was cut short (the end record kept): unreadable, not a crash.
    const cdAt = good.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    const damaged = Buffer.concat([good.subarray(0, cdAt + 10), good.subarray(good.length - 22)]);
    const r = await verify(damaged, undefined, { sameFindings: false });
    expect(r.valid).toBe(false);
    expect(r.findings[0]).toMatch(/^the zip cannot be read/);

    await page.setInputFiles('#bundle', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a zip') });
    await page.locator('#verdict[data-verdict="invalid"]').waitFor();
    expect(await page.locator('#findings li').allTextContents()).toEqual(['not a zip file (no end-of-central-directory record)']);
  });

  it('no page errors throughout', () => {
    expect(problems).toEqual([]);
  });
});
