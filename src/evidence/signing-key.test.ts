import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempCatalog } from '../../test/support/temp-catalog.js';
import type { OpenedDb } from '../db/connection.js';
import { systemClock } from '../shared/clock.js';
import { verifyEd25519 } from '../shared/evidence-hash.js';
import { SigningKey } from './signing-key.js';

let dir: string;
let opened: OpenedDb;
tempCatalog('vigil-key-', (c) => ({ dir, opened } = c));

describe('the signing key (invariant 10)', () => {
  it('is created at first start with mode 0600 in a 0700 folder, and is the same key at the next start', async () => {
    const path = join(dir, 'keys', 'signing-key.pem');
    const first = await SigningKey.open(path, opened.db, systemClock);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'keys'))).mode & 0o777).toBe(0o700);
    const again = await SigningKey.open(path, opened.db, systemClock);
    expect(again.fingerprint).toBe(first.fingerprint);
    const sig = again.sign(Buffer.from('x'));
    expect(verifyEd25519(first.publicKeyPem, Buffer.from('x'), sig.signature)).toBe(true);
    expect(await again.keys()).toHaveLength(1);
  });

  it('rotation retires the old public key (kept, still verifying) and signs with the new one from then on', async () => {
    const path = join(dir, 'k.pem');
    const key = await SigningKey.open(path, opened.db, systemClock);
    const oldPem = key.publicKeyPem;
    const oldSig = key.sign(Buffer.from('before')).signature;
    await key.rotate();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const keys = await key.keys();
    expect(keys.filter((k) => k.retiredAtMs === null).map((k) => k.fingerprint)).toEqual([key.fingerprint]);
    expect(keys.find((k) => k.publicKeyPem === oldPem)?.retiredAtMs).not.toBeNull();
    expect(verifyEd25519(oldPem, Buffer.from('before'), oldSig)).toBe(true);
    expect(verifyEd25519(key.publicKeyPem, Buffer.from('before'), oldSig)).toBe(false);
    // The file now holds the new key: a restart signs with it.
    expect((await SigningKey.open(path, opened.db, systemClock)).fingerprint).toBe(key.fingerprint);
  });

  it('rotations asked at the same moment run one after the other; the file and the catalog agree on the key after them', async () => {
    const path = join(dir, 'k.pem');
    const key = await SigningKey.open(path, opened.db, systemClock);
    await Promise.all([key.rotate(), key.rotate(), key.rotate()]);
    const keys = await key.keys();
    expect(keys).toHaveLength(4);
    expect(keys.filter((k) => k.retiredAtMs === null).map((k) => k.fingerprint)).toEqual([key.fingerprint]);
    expect((await SigningKey.open(path, opened.db, systemClock)).fingerprint).toBe(key.fingerprint);
  });

  it('refuses a key file that is not an Ed25519 private key, rather than signing with something else', async () => {
    const path = join(dir, 'bad.pem');
    await writeFile(path, 'not a key');
    await expect(SigningKey.open(path, opened.db, systemClock)).rejects.toThrow();
  });
});
