/**
 * Tamper storm: proves that evidence cannot be altered unnoticed. Real segment files are indexed
 * (hashed, chained, signed) and real bundles built from them (the exporter's own writeBundle, the clip
 * route's cut). Then:
 *
 * - untouched bundles, each a different random export, must all pass `verifyBundle` (no false alarm);
 * - each bundle mutation (a bit flipped in a clip, a segment file, the manifest or the signature; an
 *   entry swapped, truncated, appended to, removed, added, reordered; bytes appended to the zip; the
 *   manifest re-signed with another key) must fail it;
 * - each catalog mutation (a row deleted, its times shifted, its size or hash changed, a link deleted
 *   or altered, a row inserted, the chain rewritten without the key, a file's bytes flipped, cut or
 *   appended to) must make `vigil check --deep` report a problem.
 *
 * `npm run torture -- --only tamper [--full] [--seed N]`: CI size 400 mutations and 60 untouched
 * bundles; full size 1,000 and 1,000.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import { pino } from 'pino';
import { buildCore, type Core } from '../src/app.js';
import { buildConfig, cameraFromInput } from '../src/config/config.js';
import { upsertDeclaredCamera } from '../src/db/camera.repo.js';
import { openDatabase } from '../src/db/connection.js';
import type { ExportJob } from '../src/db/export.repo.js';
import { writeBundle, segmentsOf } from '../src/evidence/bundle.js';
import { verifyBundle } from '../src/evidence/verify.js';
import { ClipService } from '../src/export/clip.service.js';
import { MediaJobs } from '../src/export/media-jobs.js';
import { systemClock } from '../src/shared/clock.js';
import { chainHash, GENESIS_HASH, keyFingerprint } from '../src/shared/evidence-hash.js';
import { VIGIL_VERSION } from '../src/shared/version.js';
import { deepCheck } from '../src/storage/deep-check.js';
import { FootageStore } from '../src/storage/footage-store.js';
import { indexFiles, makeSegmentFiles } from '../test/support/evidence-footage.js';
import { readZip, zipEntries } from '../test/support/bundle-fixture.js';
import { removeDir, tempDir } from '../test/support/harness.js';
import { prng, type StormOptions, type StormResult } from './storm.js';

const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);
const SEGMENTS = 8;
const CAMERAS = ['cam1', 'cam2'];

interface ZipEntry {
  name: string;
  data: Buffer;
}

async function readEntries(bytes: Buffer): Promise<ZipEntry[]> {
  return (await readZip(bytes)).map(([name, data]) => ({ name, data }));
}

/** A zip of these entries, stored, as the exporter writes them (so only the mutation differs). */
function writeZip(entries: ZipEntry[]): Promise<Buffer> {
  return zipEntries(entries.map((e): [string, Buffer] => [e.name, e.data]));
}

/** Where each entry's data lies in the zip file (its local header is 30 bytes + name + extra). */
function dataOffset(zip: Buffer, entry: ZipEntry): number {
  let at = 0;
  for (;;) {
    at = zip.indexOf(Buffer.from(entry.name), at);
    if (at < 0) throw new Error(`entry ${entry.name} not found`);
    const header = at - 30;
    if (header >= 0 && zip.readUInt32LE(header) === 0x04034b50) return header + 30 + zip.readUInt16LE(header + 26) + zip.readUInt16LE(header + 28);
    at++;
  }
}

export async function runTamperStorm(o: StormOptions & { seed?: number }): Promise<StormResult> {
  const seed = o.seed ?? Date.now() % 1_000_000;
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const mutationsWanted = o.size === 'full' ? 1000 : 400;
  const untouchedWanted = o.size === 'full' ? 1000 : 60;
  const work = await tempDir('vigil-tamper-');
  const violations: string[] = [];
  const detected = new Map<string, [number, number]>();
  const note = (kind: string, ok: boolean, what: string) => {
    const [d, n] = detected.get(kind) ?? [0, 0];
    detected.set(kind, [d + (ok ? 1 : 0), n + 1]);
    if (!ok) violations.push(`${kind} went undetected: ${what} (seed ${seed})`);
  };
  let core: Core | undefined;
  try {
    const dataDir = join(work, 'data');
    const config = buildConfig({ retention: { min_free_bytes: 0 } }, { source: null, cwd: work, env: {}, overrides: { dataDir } });
    core = await buildCore(config, systemClock, pino({ level: 'silent' }));
    o.log(`tamper: seed ${seed}; indexing ${SEGMENTS} segments on ${CAMERAS.length} cameras`);
    const files = await makeSegmentFiles(join(work, 'src'), SEGMENTS);
    for (const c of CAMERAS) {
      await upsertDeclaredCamera(core.db, cameraFromInput({ id: c, main_url: 'rtsp://127.0.0.1:9/x', enabled: false }), 'config', T0);
      await indexFiles(core.db, dataDir, c, files, T0, core.signingKey);
    }
    const fingerprint = core.signingKey.fingerprint;
    const clips = new ClipService({ db: core.db, clock: systemClock, store: core.store, log: pino({ level: 'silent' }), jobs: new MediaJobs({ maxJobs: 2 }), ffmpegPath: 'ffmpeg', clipMaxSeconds: 3600 });
    const deps = { db: core.db, store: core.store, clips, key: core.signingKey, vigilVersion: VIGIL_VERSION };
    let n = 0;
    /** A bundle of a random range of random cameras, built as an export job builds it. */
    const build = async (): Promise<Buffer> => {
      const from = T0 + Math.floor(rnd() * (SEGMENTS * 2000 - 1500));
      const to = Math.min(T0 + SEGMENTS * 2000, from + 1000 + Math.floor(rnd() * 8000));
      const job: ExportJob = {
        id: `exp_tamper${n++}`, state: 'running', cameraIds: rnd() < 0.5 ? ['cam1'] : CAMERAS, fromMs: from, toMs: to, incidentId: rnd() < 0.5 ? 'case-1' : null,
        reason: 'tamper storm', includeSegments: rnd() < 0.6, requestedBy: 'storm', requestId: null, progress: 0, sizeBytes: null, sha256: null,
        manifestSha256: null, error: null, attempts: 1, createdAtMs: Date.now(), startedAtMs: null, finishedAtMs: null, deletedAtMs: null,
      };
      const out = join(work, `${job.id}.zip`);
      await writeBundle(deps, job, await segmentsOf(core!.db, job), out, () => undefined, new AbortController().signal);
      const bytes = await readFile(out);
      await rm(out);
      return bytes;
    };

    // Untouched bundles: every one verifies.
    const bases: Buffer[] = [];
    let falseAlarms = 0;
    for (let i = 0; i < untouchedWanted; i++) {
      const b = await build();
      if (bases.length < 12) bases.push(b);
      const path = join(work, 'check.zip');
      await writeFile(path, b);
      const r = await verifyBundle(path, { fingerprint });
      if (!r.valid) {
        falseAlarms++;
        violations.push(`an untouched bundle failed verification: ${r.findings.join('; ')} (seed ${seed})`);
      }
    }
    o.log(`tamper: ${untouchedWanted} untouched bundles verified (${falseAlarms} false alarms)`);

    // Bundle mutations.
    const attacker = generateKeyPairSync('ed25519');
    const bundleKinds = [
      'bit flip in a clip', 'bit flip in a segment file', 'bit flip in the manifest', 'bit flip in the signature', 'bit flip in the public key',
      'entries swapped', 'clip from another bundle', 'entry truncated', 'entry appended to', 'entry removed', 'entry added',
      'entries reordered', 'fragments reordered in a clip', 'bytes appended to the zip', 'zip truncated', 're-signed with another key',
    ] as const;
    const catalogKinds = [
      'row deleted', 'times shifted', 'size changed', 'hash changed', 'link deleted', 'link altered', 'row inserted',
      'chain rewritten without the key', 'file bit flip', 'file truncated', 'file appended to',
    ] as const;
    const catalogShare = 0.3;
    const snapshot = join(work, 'snapshot');
    await cp(dataDir, snapshot, { recursive: true });
    for (let i = 0; i < mutationsWanted; i++) {
      if (rnd() < catalogShare) {
        const kind = pick(catalogKinds);
        const found = await mutateCatalog(kind, snapshot, join(work, 'mutated'), rnd);
        note(kind, found.problems > 0, found.what);
        continue;
      }
      let kind = pick(bundleKinds);
      const base = pick(bases);
      const entries = await readEntries(base);
      const media = (prefix: string) => entries.filter((e) => e.name.startsWith(prefix) && e.data.length > 64);
      if (kind === 'bit flip in a segment file' && media('segments/').length === 0) kind = 'bit flip in a clip';
      let mutated: Buffer;
      let what = '';
      const flipIn = (target: ZipEntry) => {
        const z = Buffer.from(base);
        const at = dataOffset(z, target) + Math.floor(rnd() * target.data.length);
        const bit = 1 << Math.floor(rnd() * 8);
        z[at]! ^= bit;
        what = `${target.name} byte ${at} bit ${bit}`;
        return z;
      };
      const byName = (name: string) => entries.find((e) => e.name === name)!;
      switch (kind) {
        case 'bit flip in a clip': mutated = flipIn(pick(media('clips/'))); break;
        case 'bit flip in a segment file': mutated = flipIn(pick(media('segments/'))); break;
        case 'bit flip in the manifest': mutated = flipIn(byName('manifest.json')); break;
        case 'bit flip in the signature': mutated = flipIn(byName('manifest.sig')); break;
        case 'bit flip in the public key': mutated = flipIn(byName('public-key.pem')); break;
        case 'entries swapped': {
          const [a, b] = [pick(entries), pick(entries)];
          if (a === b || a.data.equals(b.data)) { i--; continue; }
          [a.data, b.data] = [b.data, a.data];
          what = `${a.name} ↔ ${b.name}`;
          mutated = await writeZip(entries);
          break;
        }
        case 'clip from another bundle': {
          const clip = pick(media('clips/'));
          const other = (await readEntries(pick(bases))).find((e) => e.name === clip.name);
          if (!other || other.data.equals(clip.data)) { i--; continue; }
          clip.data = other.data;
          what = clip.name;
          mutated = await writeZip(entries);
          break;
        }
        case 'entry truncated': {
          const e = pick(entries);
          e.data = e.data.subarray(0, Math.floor(rnd() * e.data.length));
          what = e.name;
          mutated = await writeZip(entries);
          break;
        }
        case 'entry appended to': {
          const e = pick(entries);
          e.data = Buffer.concat([e.data, Buffer.from([Math.floor(rnd() * 256)]), Buffer.alloc(Math.floor(rnd() * 100))]);
          what = e.name;
          mutated = await writeZip(entries);
          break;
        }
        case 'entry removed': {
          const at = Math.floor(rnd() * entries.length);
          what = entries[at]!.name;
          entries.splice(at, 1);
          mutated = await writeZip(entries);
          break;
        }
        case 'entry added':
          entries.splice(Math.floor(rnd() * entries.length), 0, { name: `clips/extra-${i}.mp4`, data: Buffer.from('not footage') });
          what = `clips/extra-${i}.mp4`;
          mutated = await writeZip(entries);
          break;
        case 'entries reordered': {
          const a = Math.floor(rnd() * entries.length);
          let b = Math.floor(rnd() * entries.length);
          if (a === b) b = (a + 1) % entries.length;
          [entries[a], entries[b]] = [entries[b]!, entries[a]!];
          what = `${entries[b]!.name} ↔ ${entries[a]!.name} (positions)`;
          mutated = await writeZip(entries);
          break;
        }
        case 'fragments reordered in a clip': {
          const clip = pick(media('clips/'));
          const half = Math.floor(clip.data.length / 4);
          const a = Math.floor(clip.data.length / 2) - half;
          const first = Buffer.from(clip.data.subarray(a, a + half));
          const second = Buffer.from(clip.data.subarray(a + half, a + 2 * half));
          if (first.equals(second)) { i--; continue; }
          clip.data = Buffer.concat([clip.data.subarray(0, a), second, first, clip.data.subarray(a + 2 * half)]);
          what = clip.name;
          mutated = await writeZip(entries);
          break;
        }
        case 'bytes appended to the zip':
          mutated = Buffer.concat([base, Buffer.alloc(1 + Math.floor(rnd() * 1000), Math.floor(rnd() * 256))]);
          what = `${mutated.length - base.length} bytes`;
          break;
        case 'zip truncated':
          mutated = base.subarray(0, Math.floor(rnd() * base.length));
          what = `${mutated.length} of ${base.length} bytes kept`;
          break;
        case 're-signed with another key': {
          // A self-consistent forgery: new key, new signature. Only pinning the fingerprint catches it.
          const m = byName('manifest.json');
          const pem = attacker.publicKey.export({ type: 'spki', format: 'pem' }).toString();
          const manifest = JSON.parse(m.data.toString()) as { reason: string; signing_key: { fingerprint: string }; files: Array<{ path: string; sha256: string; size_bytes: number }> };
          manifest.reason = 'forged';
          manifest.signing_key.fingerprint = keyFingerprint(pem);
          byName('public-key.pem').data = Buffer.from(pem);
          const f = manifest.files.find((x) => x.path === 'public-key.pem')!;
          f.sha256 = createHash('sha256').update(pem).digest('hex');
          f.size_bytes = Buffer.byteLength(pem);
          m.data = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
          byName('manifest.sig').data = Buffer.from(`${sign(null, m.data, attacker.privateKey).toString('base64')}\n`);
          what = 'manifest, key and signature replaced';
          mutated = await writeZip(entries);
          break;
        }
      }
      const path = join(work, 'mutated.zip');
      await writeFile(path, mutated);
      const r = await verifyBundle(path, { fingerprint });
      note(kind, !r.valid, what);
    }
    const total = [...detected.values()].reduce((a, [, n2]) => a + n2, 0);
    const caught = [...detected.values()].reduce((a, [d]) => a + d, 0);
    return {
      name: 'tamper',
      summary: [
        ['seed', String(seed)],
        ['untouched bundles', `${untouchedWanted}, ${falseAlarms} false alarms`],
        ['mutations', `${total}, ${caught} detected (${((caught / Math.max(1, total)) * 100).toFixed(1)} %)`],
        ...[...detected.entries()].sort().map(([k, [d, n2]]): [string, string] => [`  ${k}`, `${d}/${n2}`]),
      ],
      violations,
    };
  } finally {
    await core?.close();
    await removeDir(work);
  }
}

/** Applies one catalog mutation to a fresh copy of `snapshot` and runs the deep check on it. */
async function mutateCatalog(kind: string, snapshot: string, dir: string, rnd: () => number): Promise<{ problems: number; what: string }> {
  await rm(dir, { recursive: true, force: true });
  await cp(snapshot, dir, { recursive: true });
  const opened = await openDatabase(join(dir, 'vigil.db'));
  const db = opened.db;
  try {
    const rows = await db.selectFrom('segments').selectAll().orderBy('id').execute();
    const r = rows[Math.floor(rnd() * rows.length)]!;
    const what = `${kind} on segment ${r.id}`;
    switch (kind) {
      case 'row deleted': await sql`DELETE FROM segments WHERE id = ${r.id}`.execute(db); break;
      case 'times shifted': {
        const d = (1 + Math.floor(rnd() * 5000)) * (rnd() < 0.5 ? -1 : 1);
        await sql`UPDATE segments SET start_ms = start_ms + ${d}, end_ms = end_ms + ${d} WHERE id = ${r.id}`.execute(db);
        break;
      }
      case 'size changed': await sql`UPDATE segments SET size_bytes = size_bytes + 1 WHERE id = ${r.id}`.execute(db); break;
      case 'hash changed': await sql`UPDATE segments SET sha256 = ${createHash('sha256').update(String(rnd())).digest('hex')} WHERE id = ${r.id}`.execute(db); break;
      case 'link deleted':
        await sql`DROP TRIGGER chain_links_no_delete`.execute(db);
        await sql`DELETE FROM chain_links WHERE segment_id = ${r.id}`.execute(db);
        break;
      case 'link altered':
        await sql`DROP TRIGGER chain_links_no_update`.execute(db);
        await sql`UPDATE chain_links SET end_ms = end_ms + 1 WHERE segment_id = ${r.id}`.execute(db);
        break;
      case 'row inserted':
        await sql`INSERT INTO segments (camera_id, path, start_ms, end_ms, duration_ms, size_bytes, source, indexed_at_ms, sha256)
                  VALUES (${r.camera_id}, ${`${r.path}.forged`}, ${T0 + 3600_000}, ${T0 + 3602_000}, 2000, 10, 'live', ${T0}, ${'c'.repeat(64)})`.execute(db);
        break;
      case 'chain rewritten without the key': {
        // Shift the row and recompute every hash from it on: consistent hashes, signatures left as they were.
        await sql`DROP TRIGGER chain_links_no_update`.execute(db);
        await sql`UPDATE segments SET start_ms = start_ms + 1000, end_ms = end_ms + 1000 WHERE id = ${r.id}`.execute(db);
        const links = await db.selectFrom('chain_links').selectAll().where('camera_id', '=', r.camera_id).orderBy('seq').execute();
        let prev = GENESIS_HASH;
        for (const l of links) {
          const shift = l.segment_id === r.id ? 1000 : 0;
          const h = chainHash(prev, { cameraId: l.camera_id, seq: l.seq, kind: l.kind, startMs: l.start_ms + shift, endMs: l.end_ms + shift, sizeBytes: l.size_bytes, sha256: l.sha256, targetSeq: l.target_seq, reason: l.reason });
          await sql`UPDATE chain_links SET start_ms = ${l.start_ms + shift}, end_ms = ${l.end_ms + shift}, prev_hash = ${prev}, chain_hash = ${h} WHERE camera_id = ${l.camera_id} AND seq = ${l.seq}`.execute(db);
          await sql`UPDATE segments SET chain_hash = ${h} WHERE id = ${l.segment_id}`.execute(db);
          prev = h;
        }
        break;
      }
      case 'file bit flip': {
        const f = join(dir, r.path);
        const b = await readFile(f);
        b[Math.floor(rnd() * b.length)]! ^= 1 << Math.floor(rnd() * 8);
        await writeFile(f, b);
        break;
      }
      case 'file truncated': {
        const f = join(dir, r.path);
        const b = await readFile(f);
        await writeFile(f, b.subarray(0, Math.floor(rnd() * b.length)));
        break;
      }
      case 'file appended to': {
        const f = join(dir, r.path);
        await writeFile(f, Buffer.concat([await readFile(f), Buffer.alloc(1 + Math.floor(rnd() * 100))]));
        break;
      }
      default: throw new Error(`unknown catalog mutation ${kind}`);
    }
    await mkdir(join(dir, 'recordings'), { recursive: true });
    const report = await deepCheck({ db, store: new FootageStore(dir) }, { rehash: true, statFile: async () => true });
    return { problems: report.problems.length, what };
  } finally {
    await opened.close();
  }
}
