import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../../test/support/harness.js';
import { tempCore } from '../../test/support/temp-core.js';
import type { Core } from '../app.js';
import { latestCheckpoint, listChainLinks } from '../db/chain.repo.js';
import { deleteToTombstones } from '../db/retention.repo.js';
import { getSegment } from '../db/evidence.repo.js';
import type { Segment } from '../db/segment.repo.js';
import { chainHash, GENESIS_HASH, verifyEd25519 } from '../shared/evidence-hash.js';
import { checkCatalog } from './check.js';
import { hashFile, scanAndHash } from './segment-digest.js';

const run = promisify(execFile);
const T0 = Date.UTC(2026, 10, 26, 9, 0, 0);
let fixture: Buffer;
let fixtureDir: string;

beforeAll(async () => {
  fixtureDir = await tempDir('vigil-chain-fixture-');
  const file = join(fixtureDir, 'seg.mp4');
  await run('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=15', '-t', '2',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-pix_fmt', 'yuv420p',
    '-movflags', '+frag_keyframe+empty_moov+default_base_moof', file,
  ]);
  fixture = await readFile(file);
}, 30_000);
afterAll(() => removeDir(fixtureDir));

let dataDir: string;
let core: Core;
tempCore((c) => ({ dataDir, core } = c), T0, { retention_hours: 1 });

/** Indexes a copy of the fixture (made unique by a trailing free box) as 2 s of footage at T0 + i·2 s. */
async function record(i: number, source: 'live' | 'edge' = 'live'): Promise<Segment> {
  const dir = join(dataDir, 'recordings', 'cam1');
  await mkdir(dir, { recursive: true });
  const free = Buffer.alloc(16);
  free.writeUInt32BE(16, 0);
  free.write('free', 4);
  free.writeUInt32BE(i, 8);
  const abs = join(dir, `2026112609${String(i).padStart(4, '0')}Z-r1-${String(i).padStart(6, '0')}.mp4`);
  await writeFile(abs, Buffer.concat([fixture, free]));
  const r = await core.indexer.indexClosed({ cameraId: 'cam1', absPath: abs, startMs: T0 + i * 2000, endMs: T0 + (i + 1) * 2000, source });
  if (!r?.segment) throw new Error('not indexed');
  return r.segment;
}

const deps = () => ({ db: core.db, store: core.store, events: core.events, batchSize: 10, reindex: async () => ({ recovered: 0, discarded: 0 }), signer: core.signingKey });
const deep = () => checkCatalog(deps(), { repair: false, online: false, nowMs: Date.now(), deep: true });
const kinds = async () => (await deep()).problems.map((p) => [p.kind, p.segmentId]);

describe('per-segment SHA-256 (invariant 10)', () => {
  it('is the SHA-256 of the stored file, taken in the same read as the scan', async () => {
    const s = await record(0);
    const bytes = await readFile(join(dataDir, s.path));
    expect(s.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(s.sizeBytes).toBe(bytes.length);
  });

  it('covers every byte of a file larger than one read chunk, mdat skipped by the scan included', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 7);
    big.writeUInt32BE(big.length, 0);
    big.write('free', 4);
    for (let i = 8; i < big.length; i += 4093) big[i] = i & 0xff;
    const file = join(dataDir, 'big.mp4');
    await writeFile(file, Buffer.concat([fixture, big]));
    const d = await scanAndHash(file);
    expect(d.scan.complete).toBe(true);
    expect(d.scan.fragmentCount).toBe(2);
    expect(d.sizeBytes).toBe((await stat(file)).size);
    expect(d.sha256).toBe(createHash('sha256').update(await readFile(file)).digest('hex'));
  });
});

describe('digests read at once', () => {
  it('give every file its own digest while they share the pooled read chunks, and a failed read frees its turn', async () => {
    // Files of different lengths and contents (larger than a chunk), read 12 at once with failures between:
    // a chunk handed back and reused while another read still held it would mix bytes of two files.
    const files: string[] = [];
    for (let i = 0; i < 12; i++) {
      const tail = Buffer.alloc(1024 * 1024 + 4096 * (i + 1));
      tail.writeUInt32BE(tail.length, 0);
      tail.write('free', 4);
      tail.fill(i + 1, 8);
      const file = join(dataDir, `many-${i}.mp4`);
      await writeFile(file, Buffer.concat([fixture, tail]));
      files.push(file);
    }
    const expected = await Promise.all(files.map(async (f) => createHash('sha256').update(await readFile(f)).digest('hex')));
    for (let round = 0; round < 2; round++) {
      const missing = Array.from({ length: 6 }, (_, i) => scanAndHash(join(dataDir, `absent-${i}.mp4`)).then(() => 'read', () => 'failed'));
      const missingHash = Array.from({ length: 6 }, (_, i) => hashFile(join(dataDir, `absent-h${i}.mp4`)).then(() => 'read', () => 'failed'));
      const digests = await Promise.all(files.map((f) => scanAndHash(f)));
      const hashes = await Promise.all(files.map((f) => hashFile(f)));
      expect(await Promise.all([...missing, ...missingHash])).toEqual(Array(12).fill('failed'));
      expect(digests.map((d) => d.sha256)).toEqual(expected);
      expect(digests.every((d) => d.scan.complete)).toBe(true);
      expect(hashes.map((h) => h.sha256)).toEqual(expected);
    }
  });
});

describe('the per-camera hash chain (invariant 10)', () => {
  it('links every indexed segment to the one before, each link signed with Vigil\'s key', async () => {
    const segs = [await record(0), await record(1), await record(2)];
    const links = await listChainLinks(core.db, 'cam1', 0, 100);
    expect(links.map((l) => [l.seq, l.segmentId, l.kind])).toEqual(segs.map((s, i) => [i + 1, s.id, 'segment']));
    let prev = GENESIS_HASH;
    for (const [i, l] of links.entries()) {
      expect(l.prevHash).toBe(prev);
      expect(l.chainHash).toBe(chainHash(prev, { cameraId: 'cam1', seq: l.seq, kind: 'segment', startMs: segs[i]!.startMs, endMs: segs[i]!.endMs, sizeBytes: segs[i]!.sizeBytes, sha256: segs[i]!.sha256! }));
      expect(verifyEd25519(core.signingKey.publicKeyPem, Buffer.from(l.chainHash), l.signature!)).toBe(true);
      expect((await getSegment(core.db, segs[i]!.id))?.chainHash).toBe(l.chainHash);
      prev = l.chainHash;
    }
    const r = await deep();
    expect(r.problems).toEqual([]);
    expect(r.deep).toMatchObject({ rehashed: 3, links: 3, unhashed: 0 });
  });

  it('an edge refill landing in the past is the next link, and the chain still verifies', async () => {
    await record(0);
    await record(5);
    const edge = await record(2, 'edge');
    const links = await listChainLinks(core.db, 'cam1', 0, 100);
    expect(links.at(-1)).toMatchObject({ seq: 3, segmentId: edge.id, startMs: T0 + 4000 });
    expect((await deep()).problems).toEqual([]);
  });

  it('a deletion by policy is a signed deletion link, not tampering', async () => {
    const [a, b] = [await record(0), await record(1)];
    await deleteToTombstones(core.db, [a.id, b.id], 'age', Date.now(), core.signingKey);
    const links = await listChainLinks(core.db, 'cam1', 0, 100);
    expect(links.map((l) => [l.kind, l.segmentId, l.targetSeq ?? null, l.reason ?? null])).toEqual([
      ['segment', a.id, null, null],
      ['segment', b.id, null, null],
      ['deletion', a.id, 1, 'age'],
      ['deletion', b.id, 2, 'age'],
    ]);
    expect(links.every((l) => verifyEd25519(core.signingKey.publicKeyPem, Buffer.from(l.chainHash), l.signature!))).toBe(true);
    // The file side of the deletion (step 2) has not run: only the tombstones are left to finish.
    expect((await deep()).problems.map((p) => p.kind)).toEqual(['unresolved_tombstone', 'unresolved_tombstone']);
  });

  it('retention compacts the chain: the links of footage that is gone give way to a signed checkpoint, and the chain still verifies', async () => {
    const [a, b, c] = [await record(0), await record(1), await record(2)];
    // c stays (held as evidence); a and b age out.
    await sql`UPDATE segments SET evidence_locked = 1 WHERE id = ${c.id}`.execute(core.db);
    await core.retention.sweepOnce({ dryRun: false });
    const links = await listChainLinks(core.db, 'cam1', 0, 100);
    // The chain now starts at c's link (seq 3); the deletion links of a and b (4, 5) follow it.
    expect(links.map((l) => [l.seq, l.kind, l.segmentId])).toEqual([[3, 'segment', c.id], [4, 'deletion', a.id], [5, 'deletion', b.id]]);
    expect(await latestCheckpoint(core.db, 'cam1')).toMatchObject({ firstSeq: 3, prevHash: links[0]!.prevHash });
    expect((await deep()).problems).toEqual([]);
    await record(3);
    expect((await deep()).problems).toEqual([]);
    expect(b.id).toBeGreaterThan(a.id);
  });

  it('check --deep catches a checkpoint forged to drop links, or removed', async () => {
    const [a, b] = [await record(0), await record(1)];
    // Someone without the key drops segment a with its link, and writes a checkpoint to cover it.
    await sql`INSERT INTO chain_checkpoints (camera_id, first_seq, prev_hash, signature, key_fingerprint, at_ms)
              VALUES ('cam1', 2, ${(await listChainLinks(core.db, 'cam1', 1, 1))[0]!.prevHash}, ${Buffer.alloc(64).toString('base64')}, ${core.signingKey.fingerprint}, 0)`.execute(core.db);
    await sql`DELETE FROM chain_links WHERE seq = 1`.execute(core.db);
    await sql`DELETE FROM segments WHERE id = ${a.id}`.execute(core.db);
    expect((await kinds()).map(([k]) => k)).toContain('chain_bad_signature');
    // Removing the checkpoint as well leaves the chain without its start.
    await sql`DELETE FROM chain_checkpoints`.execute(core.db);
    expect((await kinds()).map(([k]) => k)).toContain('chain_broken');
    expect(b.id).toBeGreaterThan(0);
  });

  it('check --deep names a segment whose file bytes changed', async () => {
    const [, b] = [await record(0), await record(1)];
    const abs = join(dataDir, b.path);
    const bytes = await readFile(abs);
    bytes[bytes.length - 100]! ^= 0x01;
    await writeFile(abs, bytes);
    expect(await kinds()).toEqual([['hash_mismatch', b.id]]);
  });

  it('check --deep names a row deleted silently, a row whose times were shifted, and a row inserted by hand', async () => {
    const [a, b, c] = [await record(0), await record(1), await record(2)];
    await sql`DELETE FROM segments WHERE id = ${a.id}`.execute(core.db);
    await sql`UPDATE segments SET start_ms = start_ms + 500, end_ms = end_ms + 500 WHERE id = ${b.id}`.execute(core.db);
    await sql`INSERT INTO segments (camera_id, path, start_ms, end_ms, duration_ms, size_bytes, source, indexed_at_ms, sha256, chain_seq, chain_hash)
              VALUES ('cam1', 'recordings/cam1/forged.mp4', ${T0 + 60_000}, ${T0 + 62_000}, 2000, 10, 'live', ${T0}, ${'a'.repeat(64)}, 9, ${'b'.repeat(64)})`.execute(core.db);
    const k = await kinds();
    expect(k).toContainEqual(['chain_row_missing', a.id]);
    expect(k).toContainEqual(['chain_row_mismatch', b.id]);
    expect(k.some(([kind, id]) => kind === 'chain_row_unlinked' && id !== a.id && id !== b.id && id !== c.id)).toBe(true);
  });

  it('check --deep catches a chain rewritten without the key: the hashes follow, the signatures do not', async () => {
    const [, b] = [await record(0), await record(1), await record(2)];
    // An attacker with the catalog (not the key) shifts segment b by 1 s and recomputes every hash after it.
    await sql`DROP TRIGGER chain_links_no_update`.execute(core.db);
    await sql`UPDATE segments SET start_ms = start_ms + 1000, end_ms = end_ms + 1000 WHERE id = ${b.id}`.execute(core.db);
    const links = await listChainLinks(core.db, 'cam1', 0, 100);
    let prev = GENESIS_HASH;
    for (const l of links) {
      const facts = l.segmentId === b.id ? { ...l, startMs: l.startMs + 1000, endMs: l.endMs + 1000 } : l;
      const h = chainHash(prev, facts);
      await sql`UPDATE chain_links SET start_ms = ${facts.startMs}, end_ms = ${facts.endMs}, prev_hash = ${prev}, chain_hash = ${h} WHERE camera_id = 'cam1' AND seq = ${l.seq}`.execute(core.db);
      await sql`UPDATE segments SET chain_hash = ${h} WHERE id = ${l.segmentId}`.execute(core.db);
      prev = h;
    }
    const k = await kinds();
    expect(k.filter(([kind]) => kind === 'chain_bad_signature').map(([, id]) => id)).toEqual(links.slice(1).map((l) => l.segmentId));
    expect(k.some(([kind]) => kind === 'chain_broken' || kind === 'chain_row_mismatch')).toBe(false);
  });

  it('check --deep catches a link removed from the middle of the chain', async () => {
    await record(0);
    const b = await record(1);
    await record(2);
    await sql`DROP TRIGGER chain_links_no_delete`.execute(core.db);
    await sql`DELETE FROM chain_links WHERE segment_id = ${b.id}`.execute(core.db);
    await sql`DELETE FROM segments WHERE id = ${b.id}`.execute(core.db);
    expect((await kinds()).map(([kind]) => kind)).toContain('chain_broken');
  });

  it('links signed before a key rotation still verify after it', async () => {
    await record(0);
    const before = core.signingKey.fingerprint;
    await core.signingKey.rotate();
    expect(core.signingKey.fingerprint).not.toBe(before);
    await record(1);
    const links = await listChainLinks(core.db, 'cam1', 0, 100);
    expect(links.map((l) => l.keyFingerprint)).toEqual([before, core.signingKey.fingerprint]);
    expect((await deep()).problems).toEqual([]);
    const keys = await core.signingKey.keys();
    expect(new Map(keys.map((k) => [k.fingerprint, k.retiredAtMs === null]))).toEqual(new Map([[before, false], [core.signingKey.fingerprint, true]]));
  });
});
