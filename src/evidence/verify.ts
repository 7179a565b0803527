import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { BUNDLE_FORMAT, chainHash, keyFingerprint, SHA256_HEX, verifyEd25519 } from '../shared/evidence-hash.js';

/**
 * The offline verifier (`vigil verify`): checks a bundle against docs/evidence.md's six rules with no
 * database and no network, and names every file or fact that does not agree. Pure Node: the zip is
 * read with yauzl, hashes and signatures with node:crypto.
 */

export interface VerifyResult {
  valid: boolean;
  /** What does not agree, one sentence each, naming the file or fact. Empty when valid. */
  findings: string[];
  /** Fingerprint of the key that signed the manifest (when the key could be read). */
  fingerprint: string | null;
  exportId: string | null;
  files: number;
  bytes: number;
}

interface Entry {
  name: string;
  method: number;
  sha256: string;
  size: number;
  /** Kept for the small entries the verifier reads (manifest, signature, key). */
  data?: Buffer;
}

const KEEP = new Set(['manifest.json', 'manifest.sig', 'public-key.pem']);
/** A manifest larger than this is not one Vigil wrote. */
const MAX_KEPT = 256 * 1024 * 1024;

/** Verifies a bundle; never throws for what is in the file (a malformed part is a finding). */
export async function verifyBundle(path: string, opts: { fingerprint?: string | undefined } = {}): Promise<VerifyResult> {
  const findings: string[] = [];
  try {
    return await check(path, opts, findings);
  } catch (err) {
    findings.push(`the bundle is malformed: ${(err as Error).message}`);
    return { valid: false, findings, fingerprint: null, exportId: null, files: 0, bytes: 0 };
  }
}

async function check(path: string, opts: { fingerprint?: string | undefined }, findings: string[]): Promise<VerifyResult> {
  const result = (fp: string | null, exportId: string | null, entries: Entry[]): VerifyResult => ({
    valid: findings.length === 0,
    findings,
    fingerprint: fp,
    exportId,
    files: entries.length,
    bytes: entries.reduce((a, e) => a + e.size, 0),
  });

  // Rule 1: a well-formed zip, nothing after its end record, no entry twice.
  const trailing = await trailingBytes(path);
  if (trailing === null) {
    findings.push('not a zip file (no end-of-central-directory record)');
    return result(null, null, []);
  }
  if (trailing > 0) findings.push(`${trailing} bytes follow the end of the zip: the file was appended to`);
  let entries: Entry[];
  try {
    entries = await readEntries(path);
  } catch (err) {
    findings.push(`the zip cannot be read: ${(err as Error).message}`);
    return result(null, null, []);
  }
  const byName = new Map<string, Entry>();
  for (const e of entries) {
    if (byName.has(e.name)) findings.push(`${e.name}: appears twice in the zip`);
    byName.set(e.name, e);
    if (e.method !== 0) findings.push(`${e.name}: compressed (a bundle stores every entry as is)`);
  }

  // Rule 2: the manifest's signature, by the key it names (and the one the caller expects).
  const manifestEntry = byName.get('manifest.json');
  const sigEntry = byName.get('manifest.sig');
  const keyEntry = byName.get('public-key.pem');
  for (const [name, e] of [['manifest.json', manifestEntry], ['manifest.sig', sigEntry], ['public-key.pem', keyEntry]] as const) {
    if (!e) findings.push(`${name}: missing`);
  }
  if (!manifestEntry?.data || !sigEntry?.data || !keyEntry?.data) return result(null, null, entries);
  let fp: string | null = null;
  const keyPem = keyEntry.data.toString('utf8');
  try {
    fp = keyFingerprint(keyPem);
  } catch {
    findings.push('public-key.pem: not a public key');
  }
  const sigText = sigEntry.data.toString('latin1');
  // Exactly as Vigil writes it (64 bytes in base64, one line feed): any other byte is an alteration.
  // Canonical too: the last character's unused bits would otherwise let an altered file decode the same.
  const canonical = /^[A-Za-z0-9+/]{86}==\n$/.test(sigText) && Buffer.from(sigText.trim(), 'base64').toString('base64') === sigText.trim();
  if (!canonical) findings.push('manifest.sig: not a base64 Ed25519 signature on one line, as Vigil writes it (the file was altered)');
  else if (fp !== null && !verifyEd25519(keyPem, manifestEntry.data, sigText.trim())) {
    findings.push('manifest.sig: the signature does not verify against manifest.json and public-key.pem (the manifest or the signature was altered)');
  }
  if (opts.fingerprint !== undefined && fp !== opts.fingerprint.toLowerCase()) {
    findings.push(`public-key.pem: fingerprint ${fp ?? 'unreadable'} is not the expected ${opts.fingerprint}`);
  }

  let manifest: Manifest;
  try {
    manifest = JSON.parse(manifestEntry.data.toString('utf8')) as Manifest;
    if (typeof manifest !== 'object' || manifest === null || !Array.isArray(manifest.files) || !Array.isArray(manifest.cameras)) throw new Error('missing files or cameras');
  } catch (err) {
    findings.push(`manifest.json: not a Vigil manifest (${(err as Error).message})`);
    return result(fp, null, entries);
  }
  if (manifest.format !== BUNDLE_FORMAT) findings.push(`manifest.json: format "${String(manifest.format)}" is not ${BUNDLE_FORMAT}`);
  if (fp !== null && manifest.signing_key?.fingerprint !== fp) findings.push(`manifest.json: names signing key ${String(manifest.signing_key?.fingerprint)}, but public-key.pem is ${fp}`);

  // Rule 3: the entries are exactly the files listed (in that order, then the manifest and its
  // signature), each with the listed SHA-256 and size.
  const listed = new Map<string, FileFact>();
  for (const f of manifest.files) {
    if (listed.has(f.path)) findings.push(`manifest.json: lists ${f.path} twice`);
    listed.set(f.path, f);
    const e = byName.get(f.path);
    if (!e) findings.push(`${f.path}: listed in the manifest but missing from the bundle`);
    else if (e.size !== f.size_bytes) findings.push(`${f.path}: ${e.size} bytes, the manifest says ${f.size_bytes} (truncated or appended)`);
    else if (e.sha256 !== f.sha256) findings.push(`${f.path}: SHA-256 does not match the manifest (the file's bytes changed)`);
  }
  for (const e of entries) {
    if (!listed.has(e.name) && e.name !== 'manifest.json' && e.name !== 'manifest.sig') findings.push(`${e.name}: in the bundle but not in the manifest`);
  }
  const expectedOrder = [...manifest.files.map((f) => f.path), 'manifest.json', 'manifest.sig'];
  const actualOrder = entries.map((e) => e.name);
  if (findings.length === 0 && expectedOrder.join('\n') !== actualOrder.join('\n')) findings.push('the zip\'s entries are not in the manifest\'s order (the bundle was rebuilt)');

  // Rules 4–6: the facts the manifest states agree with each other.
  const keys = new Map((manifest.chain_keys ?? []).map((k) => [k.fingerprint, k.public_key_pem]));
  const from = manifest.requested_range?.from_ms;
  const to = manifest.requested_range?.to_ms;
  for (const cam of manifest.cameras) {
    const segs = Array.isArray(cam.segments) ? cam.segments : [];
    let prev: SegmentFact | undefined;
    for (const s of [...segs].sort((a, b) => (a.chain?.seq ?? 0) - (b.chain?.seq ?? 0))) {
      const where = `segment ${s.id} (${cam.id})`;
      if (s.sha256 !== null && !SHA256_HEX.test(String(s.sha256))) findings.push(`${where}: sha256 is not a SHA-256`);
      const c = s.chain;
      if (c && s.sha256) {
        const facts = { cameraId: cam.id, seq: c.seq, kind: 'segment' as const, startMs: s.start_ms, endMs: s.end_ms, sizeBytes: s.size_bytes, sha256: s.sha256 };
        if (chainHash(c.prev_hash, facts) !== c.chain_hash) findings.push(`${where}: chain_hash does not recompute from its facts (its times, size or hash were changed)`);
        const pem = c.key_fingerprint ? keys.get(c.key_fingerprint) : undefined;
        if (!c.signature || !pem || !verifyEd25519(pem, Buffer.from(c.chain_hash, 'utf8'), c.signature)) findings.push(`${where}: the chain link's signature does not verify`);
        if (prev?.chain && prev.chain.seq + 1 === c.seq && c.prev_hash !== prev.chain.chain_hash) findings.push(`${where}: prev_hash is not the chain_hash of link ${prev.chain.seq}`);
        prev = s;
      }
      if (s.file) {
        const f = listed.get(s.file);
        if (!f) findings.push(`${where}: its file ${s.file} is not in the manifest's files`);
        else if (s.sha256 && f.sha256 !== s.sha256) findings.push(`${where}: its file ${s.file} is not the footage the segment was indexed with (SHA-256 differs)`);
      }
    }
    if (cam.clip && !listed.has(cam.clip.file)) findings.push(`camera ${cam.id}: its clip ${cam.clip.file} is not in the manifest's files`);
    if (cam.clip && listed.get(cam.clip.file)?.sha256 !== cam.clip.sha256) findings.push(`camera ${cam.id}: the clip's hash differs between the camera and the files list`);
    const d = cam.delivered_range;
    if (!!cam.clip !== !!d) findings.push(`camera ${cam.id}: ${cam.clip ? 'a clip without a delivered range' : 'a delivered range without a clip'}`);
    if (d) {
      if (typeof from === 'number' && typeof to === 'number' && (d.from_ms < from || d.to_ms > to || d.from_ms >= d.to_ms)) findings.push(`camera ${cam.id}: delivered range is not inside the requested range`);
      const first = Math.min(...segs.map((s) => s.start_ms));
      const last = Math.max(...segs.map((s) => s.end_ms));
      if (segs.length === 0 || d.from_ms < first || d.to_ms > last) findings.push(`camera ${cam.id}: delivered range is not covered by its segments`);
    }
  }
  return result(fp, typeof manifest.export_id === 'string' ? manifest.export_id : null, entries);
}

interface FileFact {
  path: string;
  sha256: string;
  size_bytes: number;
}

interface SegmentFact {
  id: number;
  start_ms: number;
  end_ms: number;
  size_bytes: number;
  sha256: string | null;
  file: string | null;
  chain: { seq: number; prev_hash: string; chain_hash: string; signature: string | null; key_fingerprint: string | null } | null;
}

interface Manifest {
  format: unknown;
  export_id: unknown;
  requested_range?: { from_ms: number; to_ms: number };
  signing_key?: { fingerprint: string };
  chain_keys?: Array<{ fingerprint: string; public_key_pem: string }>;
  cameras: Array<{
    id: string;
    clip: { file: string; sha256: string; size_bytes: number } | null;
    delivered_range: { from_ms: number; to_ms: number } | null;
    segments: SegmentFact[];
  }>;
  files: FileFact[];
}

/**
 * Bytes after the end-of-central-directory record (and its comment); null when there is none. The
 * record is found from the end, as zip readers do, so data appended after it would go unnoticed by them.
 */
async function trailingBytes(path: string): Promise<number | null> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, 22 + 65_535 + 1024 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    for (let i = len - 22; i >= 0; i--) {
      if (buf.readUInt32LE(i) !== 0x06054b50) continue;
      const commentLength = buf.readUInt16LE(i + 20);
      return len - (i + 22 + commentLength);
    }
    return null;
  } finally {
    await fh.close();
  }
}

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(path, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: true }, (err, zip) => (err ? reject(err) : resolve(zip))),
  );
}

/**
 * Every entry in order, hashed. yauzl reads the central directory (and checks it); a stored entry's
 * bytes are then hashed straight from the file with large positioned reads (yauzl's stream reads 64 KiB
 * at a time, several times slower than hashing); a compressed one (never Vigil's) goes through yauzl.
 */
async function readEntries(path: string): Promise<Entry[]> {
  const zip = await openZip(path);
  const listed: yauzl.Entry[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', () => resolve());
      zip.on('entry', (e: yauzl.Entry) => {
        listed.push(e);
        zip.readEntry();
      });
      zip.readEntry();
    });
    const fh = await open(path, 'r');
    try {
      const entries: Entry[] = [];
      for (const e of listed) {
        const keep = KEEP.has(e.fileName) && e.uncompressedSize <= MAX_KEPT;
        if (e.compressionMethod !== 0) {
          const stream = await new Promise<Readable>((res, rej) => zip.openReadStream(e, (err, s) => (err ? rej(err) : res(s))));
          entries.push({ name: e.fileName, method: e.compressionMethod, ...(await hashStream(stream, keep)) });
          continue;
        }
        if (e.compressedSize !== e.uncompressedSize) throw new Error(`${e.fileName}: stored, yet its sizes differ`);
        const local = Buffer.alloc(30);
        await fh.read(local, 0, 30, e.relativeOffsetOfLocalHeader);
        if (local.readUInt32LE(0) !== 0x04034b50) throw new Error(`${e.fileName}: no local file header where the directory says`);
        const nameLength = local.readUInt16LE(26);
        const name = Buffer.alloc(nameLength);
        await fh.read(name, 0, nameLength, e.relativeOffsetOfLocalHeader + 30);
        if (name.toString('utf8') !== e.fileName) throw new Error(`${e.fileName}: its local header names "${name.toString('utf8')}"`);
        const start = e.relativeOffsetOfLocalHeader + 30 + nameLength + local.readUInt16LE(28);
        entries.push({ name: e.fileName, method: 0, ...(await hashRange(fh, start, e.compressedSize, keep)) });
      }
      return entries;
    } finally {
      await fh.close();
    }
  } finally {
    zip.close();
  }
}

/** Bytes hashed per read: large reads keep the verifier at hashing speed. */
const READ_CHUNK = 4 * 1024 * 1024;

async function hashRange(fh: FileHandle, start: number, length: number, keep: boolean): Promise<{ sha256: string; size: number; data?: Buffer }> {
  const h = createHash('sha256');
  const parts: Buffer[] = [];
  const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(1, length)));
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - done), start + done);
    if (bytesRead === 0) throw new Error(`the zip ends inside an entry (${done} of ${length} bytes)`);
    const chunk = buf.subarray(0, bytesRead);
    h.update(chunk);
    if (keep) parts.push(Buffer.from(chunk));
    done += bytesRead;
  }
  return { sha256: h.digest('hex'), size: done, ...(keep ? { data: Buffer.concat(parts) } : {}) };
}

async function hashStream(stream: Readable, keep: boolean): Promise<{ sha256: string; size: number; data?: Buffer }> {
  const h = createHash('sha256');
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.length;
    if (keep) parts.push(chunk);
  }
  return { sha256: h.digest('hex'), size, ...(keep ? { data: Buffer.concat(parts) } : {}) };
}
