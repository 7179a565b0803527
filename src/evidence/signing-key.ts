import { generateKeyPairSync, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Db } from '../db/connection.js';
import { currentSigningKey, listSigningKeys, makeSigningKeyCurrent, type SigningKeyRow } from '../db/signing-key.repo.js';
import type { Clock } from '../shared/clock.js';
import { keyFingerprint, type Signer } from '../shared/evidence-hash.js';
import { fsyncPath } from '../storage/fsync.js';

/**
 * Vigil's Ed25519 signing key (invariant 10). The private key lives in one PEM file (mode 0600),
 * generated at first start; the catalog keeps every public key Vigil has signed with, retired ones
 * included, so bundles and deletion links signed before a rotation stay verifiable.
 */
export class SigningKey implements Signer {
  private constructor(
    private privateKey: KeyObject,
    private publicPem: string,
    private fp: string,
    private readonly path: string,
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Loads the key at `path`, or creates it there; registers its public half as the current key. */
  static async open(path: string, db: Db, clock: Clock): Promise<SigningKey> {
    let pem: string;
    try {
      pem = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      pem = await writeNewKey(path);
    }
    const privateKey = createPrivateKey(pem);
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${path}: not an Ed25519 private key`);
    const publicPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
    const fp = keyFingerprint(publicPem);
    // The file decides which key is current: a crash mid-rotation leaves the catalog saying otherwise.
    await makeSigningKeyCurrent(db, { fingerprint: fp, publicKeyPem: publicPem }, clock.nowMs());
    return new SigningKey(privateKey, publicPem, fp, path, db, clock);
  }

  get fingerprint(): string {
    return this.fp;
  }

  get publicKeyPem(): string {
    return this.publicPem;
  }

  sign(data: Uint8Array): { signature: string; fingerprint: string } {
    return { signature: sign(null, data, this.privateKey).toString('base64'), fingerprint: this.fp };
  }

  /** The current key and every retired one, newest first. */
  async keys(): Promise<SigningKeyRow[]> {
    return listSigningKeys(this.db);
  }

  async current(): Promise<SigningKeyRow> {
    const row = await currentSigningKey(this.db);
    if (!row) throw new Error('no current signing key in the catalog');
    return row;
  }

  /**
   * A new key replaces this one: its public half joins the catalog as current (the old one retired,
   * still listed), then the new private key takes the file's place by an atomic rename. The old
   * private key is gone: it signs nothing again.
   */
  rotate(): Promise<SigningKeyRow> {
    // One at a time: two rotations at once would race for the temporary file and the rename.
    const next = this.rotating.then(() => this.rotateNow());
    this.rotating = next.catch(() => undefined);
    return next;
  }

  private rotating: Promise<unknown> = Promise.resolve();

  private async rotateNow(): Promise<SigningKeyRow> {
    const tmp = `${this.path}.new`;
    const pem = await writeNewKey(tmp);
    const privateKey = createPrivateKey(pem);
    const publicPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
    const fp = keyFingerprint(publicPem);
    await makeSigningKeyCurrent(this.db, { fingerprint: fp, publicKeyPem: publicPem }, this.clock.nowMs());
    await rename(tmp, this.path);
    await fsyncPath(dirname(this.path));
    this.privateKey = privateKey;
    this.publicPem = publicPem;
    this.fp = fp;
    return this.current();
  }
}

/** Writes a fresh Ed25519 private key as PEM, created with mode 0600 (never readable by others, even briefly). */
async function writeNewKey(path: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await rm(path, { force: true });
  const fh = await open(path, 'wx', 0o600);
  try {
    await fh.writeFile(pem);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsyncPath(dirname(path));
  return pem;
}
