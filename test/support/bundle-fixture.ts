import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import yauzl from 'yauzl';
import yazl from 'yazl';

/**
 * A real evidence bundle built from docs/evidence.md alone ("Export bundles", "The per-camera hash
 * chain"), with no Vigil code: the hashes, fingerprint and signatures are computed here as the document
 * states them, so a verifier that agrees with this fixture agrees with the document.
 */

export type Entry = [name: string, data: Buffer];

export interface BundleFixture {
  privateKey: KeyObject;
  publicKeyPem: string;
  fingerprint: string;
  /** The files in the order Vigil writes them, before manifest.json and manifest.sig. */
  files: Entry[];
  /** The manifest as an object; `manifestBytes` serializes it as Vigil does. */
  manifest: BundleManifest;
}

export interface ChainFacts {
  seq: number;
  prev_hash: string;
  chain_hash: string;
  signature: string;
  key_fingerprint: string;
}

export interface SegmentFacts {
  id: number;
  start: string;
  end: string;
  start_ms: number;
  end_ms: number;
  size_bytes: number;
  sha256: string;
  source: string;
  file: string | null;
  chain: ChainFacts;
}

export interface BundleManifest {
  format: string;
  reason: string;
  cameras: Array<{ id: string; segments: SegmentFacts[]; [k: string]: unknown }>;
  files: Array<{ path: string; sha256: string; size_bytes: number }>;
  [k: string]: unknown;
}

const GENESIS = '0'.repeat(64);
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const iso = (ms: number) => new Date(ms).toISOString();

/** Hex SHA-256 of the raw 32-byte Ed25519 public key (the last 32 bytes of its SPKI DER). */
export function fingerprintOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return sha256(der.subarray(der.length - 32));
}

/** A segment link's chain_hash, exactly as docs/evidence.md writes the formula. */
export function segmentChainHash(prev: string, camera: string, s: { start_ms: number; end_ms: number; size_bytes: number; sha256: string }): string {
  return sha256(`${prev}\n${camera}\n${s.start_ms}\n${s.end_ms}\n${s.size_bytes}\n${s.sha256}`);
}

/** Base64 Ed25519 signature of the chain hash's 64 hex characters. */
export function signChainHash(privateKey: KeyObject, chainHash: string): string {
  return sign(null, Buffer.from(chainHash, 'utf8'), privateKey).toString('base64');
}

export function manifestBytes(m: BundleManifest): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
}

/** manifest.sig as Vigil writes it: base64, one line feed. */
export function manifestSignature(privateKey: KeyObject, bytes: Buffer): Buffer {
  return Buffer.from(`${sign(null, bytes, privateKey).toString('base64')}\n`);
}

/**
 * One camera ("front") with two chained segments in the requested minute: the first's file is included,
 * the second's is not; a clip of random bytes (a verifier hashes bytes, it does not play them).
 */
export function makeBundleFixture(verifyPage: Buffer, sizes: { clipBytes?: number; segmentBytes?: number } = {}): BundleFixture {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const fingerprint = fingerprintOf(publicKey);
  const camera = 'front';
  const fromMs = Date.UTC(2026, 11, 4, 15, 0, 0);
  const toMs = fromMs + 60_000;

  const clip = randomBytes(sizes.clipBytes ?? 300 * 1024);
  const segmentFile = randomBytes(sizes.segmentBytes ?? 200 * 1024);
  const notIncluded = randomBytes(180 * 1024);
  const segmentPath = `segments/${camera}/${fromMs - 2000}-r1-000001.mp4`;
  const spans = [
    { id: 11, start_ms: fromMs - 2000, end_ms: fromMs + 28_000, bytes: segmentFile, file: segmentPath },
    { id: 12, start_ms: fromMs + 28_000, end_ms: fromMs + 58_000, bytes: notIncluded, file: null },
  ];
  let prev = GENESIS;
  const segments: SegmentFacts[] = spans.map((s, i) => {
    const facts = { start_ms: s.start_ms, end_ms: s.end_ms, size_bytes: s.bytes.length, sha256: sha256(s.bytes) };
    const chainHash = segmentChainHash(prev, camera, facts);
    const chain = { seq: i + 1, prev_hash: prev, chain_hash: chainHash, signature: signChainHash(privateKey, chainHash), key_fingerprint: fingerprint };
    prev = chainHash;
    return { id: s.id, start: iso(s.start_ms), end: iso(s.end_ms), ...facts, source: 'live', file: s.file, chain };
  });

  const files: Entry[] = [
    ['clips/front.mp4', clip],
    [segmentPath, segmentFile],
    ['public-key.pem', Buffer.from(publicKeyPem)],
    ['VERIFY.txt', Buffer.from(`Vigil evidence bundle exp_test\nFingerprint: ${fingerprint}\n`)],
    ['verify.html', verifyPage],
  ];
  const manifest: BundleManifest = {
    format: 'vigil-evidence-bundle/1',
    vigil_version: '0.1.0',
    export_id: 'exp_test',
    created_at: iso(toMs + 60_000),
    requested_by: 'alice',
    reason: 'insurance claim 4711',
    incident_id: 'case-7',
    request_id: 'req-test',
    requested_range: { from: iso(fromMs), to: iso(toMs), from_ms: fromMs, to_ms: toMs },
    time: { source: 'recording host clock (UTC)', max_error_ms: null, note: 'no bound is claimed' },
    signing_key: { algorithm: 'Ed25519', fingerprint, file: 'public-key.pem' },
    chain_keys: [{ fingerprint, public_key_pem: publicKeyPem }],
    cameras: [
      {
        id: camera,
        name: 'Front door',
        clip: { file: 'clips/front.mp4', sha256: sha256(clip), size_bytes: clip.length },
        delivered_range: { from: iso(fromMs), to: iso(fromMs + 58_000), from_ms: fromMs, to_ms: fromMs + 58_000 },
        covered_ms: 58_000,
        segments,
        gaps: [{ start: iso(fromMs + 58_000), end: iso(toMs), seconds: 2, fill_state: 'pending' }],
      },
    ],
    files: files.map(([path, data]) => ({ path, sha256: sha256(data), size_bytes: data.length })),
  };
  return { privateKey, publicKeyPem, fingerprint, files, manifest };
}

/**
 * The bundle's entries: the files, then manifest.json and manifest.sig. By default the manifest is the
 * fixture's, signed with its key; `manifest` and `signature` replace either (to tamper with one only).
 */
export function bundleEntries(fx: BundleFixture, opts: { manifest?: BundleManifest; signature?: Buffer; extra?: Entry[] } = {}): Entry[] {
  const bytes = manifestBytes(opts.manifest ?? fx.manifest);
  return [...fx.files, ...(opts.extra ?? []), ['manifest.json', bytes], ['manifest.sig', opts.signature ?? manifestSignature(fx.privateKey, bytes)]];
}

/** Zips the entries stored (no compression), as Vigil does; `zip64` writes every ZIP64 structure. */
export async function zipEntries(entries: Entry[], opts: { zip64?: boolean } = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const mtime = new Date(Date.UTC(2026, 11, 4, 16, 0, 0));
  for (const [name, data] of entries) zip.addBuffer(data, name, { compress: false, mtime, mode: 0o100644, forceZip64Format: opts.zip64 ?? false });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
  zip.end({ forceZip64Format: opts.zip64 ?? false, comment: '' });
  return done;
}

/** Every entry of a zip (a file or its bytes), in order, read with yauzl. */
export async function readZip(source: string | Buffer): Promise<Entry[]> {
  const zip = await new Promise<yauzl.ZipFile>((res, rej) => {
    const cb = (e: Error | null, z: yauzl.ZipFile) => (e ? rej(e) : res(z));
    if (typeof source === 'string') yauzl.open(source, { lazyEntries: true }, cb);
    else yauzl.fromBuffer(source, { lazyEntries: true }, cb);
  });
  const out: Entry[] = [];
  try {
    await new Promise<void>((res, rej) => {
      zip.on('entry', (e: yauzl.Entry) =>
        zip.openReadStream(e, async (err, s) => {
          if (err) return rej(err);
          const parts: Buffer[] = [];
          for await (const c of s) parts.push(c as Buffer);
          out.push([e.fileName, Buffer.concat(parts)]);
          zip.readEntry();
        }),
      );
      zip.on('end', res);
      zip.on('error', rej);
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
  return out;
}
