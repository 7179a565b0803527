import { camerasWithFootage, chainedRows, publicKeysByFingerprint, type ChainedRow } from '../db/chain-check.repo.js';
import { chainTail, latestCheckpoint, listChainLinks, type ChainLink } from '../db/chain.repo.js';
import type { Db } from '../db/connection.js';
import { getSegment } from '../db/evidence.repo.js';
import { chainHash, checkpointText, GENESIS_HASH, verifyEd25519 } from '../shared/evidence-hash.js';
import type { FootageStore } from './footage-store.js';

export type DeepProblemKind =
  /** A file's bytes no longer hash to its row's sha256 (or its length changed). */
  | 'hash_mismatch'
  /** A link's prev_hash or chain_hash does not follow, or seqs skip: a link altered, inserted or removed. */
  | 'chain_broken'
  /** A link's signature is missing, not Vigil's key, or does not match. */
  | 'chain_bad_signature'
  /** A row's facts (times, size, hash, link) differ from its link: the row was altered. */
  | 'chain_row_mismatch'
  /** A segment link has no row and no deletion link: the row was deleted silently. */
  | 'chain_row_missing'
  /** A hashed row that no link names: the row was inserted outside the indexer. */
  | 'chain_row_unlinked';

export interface DeepProblem {
  kind: DeepProblemKind;
  cameraId: string;
  segmentId?: number;
  seq?: number;
  path?: string;
  detail: string;
}

export interface DeepReport {
  problems: DeepProblem[];
  /** Files whose bytes were hashed again. */
  rehashed: number;
  bytesHashed: number;
  /** Rows indexed before Vigil hashed segments: no hash, no link (not a problem, but not provable). */
  unhashed: number;
  links: number;
}

const PAGE = 5000;

/**
 * `vigil check --deep` (invariants 10 and 11): re-hashes every stored file that has a hash and walks each
 * camera's chain from its first link, recomputing every hash, checking every signature against the
 * keys Vigil has signed with, and matching every link to its row (or to the deletion link that
 * ended it). Works while Vigil runs: links appended after the rows were read are left for next time.
 */
export async function deepCheck(d: { db: Db; store: FootageStore }, opts: { rehash: boolean; statFile: (abs: string) => Promise<unknown> }): Promise<DeepReport> {
  const report: DeepReport = { problems: [], rehashed: 0, bytesHashed: 0, unhashed: 0, links: 0 };
  const keys = await publicKeysByFingerprint(d.db);
  for (const cameraId of await camerasWithFootage(d.db)) {
    // Rows first, then the tail: every row read has its link at or before that tail (a row and its link
    // are one transaction), and links appended later (Vigil running) are left for the next check.
    const rows = await chainedRows(d.db, cameraId);
    const tail = await chainTail(d.db, cameraId);
    const bySeq = new Map<number, ChainedRow>();
    for (const r of rows) {
      if (r.sha256 === null && r.chainSeq === null) {
        report.unhashed++;
        continue;
      }
      if (r.chainSeq === null || r.sha256 === null) {
        report.problems.push({ kind: 'chain_row_unlinked', cameraId, segmentId: r.id, path: r.path, detail: 'hashed row without a chain link (or a link without a hash)' });
        continue;
      }
      bySeq.set(r.chainSeq, r);
    }
    const seen = new Set<number>();
    const deleted = new Set<number>();
    const segmentLinks: ChainLink[] = [];
    // A compacted chain starts at its latest checkpoint, which Vigil's key must have signed.
    const cp = await latestCheckpoint(d.db, cameraId);
    let prev = cp?.prevHash ?? GENESIS_HASH;
    let expectSeq = cp?.firstSeq ?? 1;
    if (cp) {
      const pem = keys.get(cp.keyFingerprint);
      if (!pem || !verifyEd25519(pem, Buffer.from(checkpointText(cameraId, cp.firstSeq, cp.prevHash), 'utf8'), cp.signature)) {
        report.problems.push({ kind: 'chain_bad_signature', cameraId, seq: cp.firstSeq, detail: 'the chain checkpoint is not signed by Vigil\'s key' });
      }
      for (const [seq, r] of bySeq) {
        if (seq >= cp.firstSeq) continue;
        report.problems.push({ kind: 'chain_row_unlinked', cameraId, seq, segmentId: r.id, path: r.path, detail: `row names link ${seq}, before the chain's checkpoint at ${cp.firstSeq}` });
        bySeq.delete(seq);
      }
    }
    for (let after = expectSeq - 1; after < tail.seq; ) {
      const page = await listChainLinks(d.db, cameraId, after, PAGE);
      if (page.length === 0) break;
      for (const l of page) {
        if (l.seq > tail.seq) break;
        report.links++;
        if (l.seq !== expectSeq) report.problems.push({ kind: 'chain_broken', cameraId, seq: l.seq, detail: `links ${expectSeq}…${l.seq - 1} are missing` });
        if (l.prevHash !== prev) report.problems.push({ kind: 'chain_broken', cameraId, seq: l.seq, segmentId: l.segmentId, detail: 'prev_hash is not the previous link\'s chain_hash' });
        if (chainHash(l.prevHash, l) !== l.chainHash) report.problems.push({ kind: 'chain_broken', cameraId, seq: l.seq, segmentId: l.segmentId, detail: 'chain_hash does not match the link\'s facts' });
        const pem = l.keyFingerprint ? keys.get(l.keyFingerprint) : undefined;
        if (!l.signature || !pem || !verifyEd25519(pem, Buffer.from(l.chainHash, 'utf8'), l.signature)) {
          report.problems.push({ kind: 'chain_bad_signature', cameraId, seq: l.seq, segmentId: l.segmentId, detail: !l.signature ? 'link is not signed' : !pem ? `signed by unknown key ${l.keyFingerprint}` : 'signature does not verify' });
        }
        if (l.kind === 'deletion' && l.targetSeq != null) deleted.add(l.targetSeq);
        if (l.kind === 'segment') segmentLinks.push(l);
        prev = l.chainHash;
        expectSeq = l.seq + 1;
        after = l.seq;
      }
    }
    if (prev !== tail.hash) report.problems.push({ kind: 'chain_broken', cameraId, detail: 'the chain does not end at its tail' });
    for (const l of segmentLinks) {
      seen.add(l.seq);
      const r = bySeq.get(l.seq);
      if (!r) {
        if (!deleted.has(l.seq)) report.problems.push({ kind: 'chain_row_missing', cameraId, seq: l.seq, segmentId: l.segmentId, detail: `segment ${l.segmentId} (${new Date(l.startMs).toISOString()}) has no row and no deletion link` });
        continue;
      }
      const diffs = [
        r.id !== l.segmentId && 'id',
        r.startMs !== l.startMs && 'start_ms',
        r.endMs !== l.endMs && 'end_ms',
        r.sizeBytes !== l.sizeBytes && 'size_bytes',
        r.sha256 !== l.sha256 && 'sha256',
        r.chainHash !== l.chainHash && 'chain_hash',
      ].filter(Boolean);
      if (diffs.length > 0) report.problems.push({ kind: 'chain_row_mismatch', cameraId, seq: l.seq, segmentId: r.id, path: r.path, detail: `row differs from its link in ${diffs.join(', ')}` });
      // Deleted by retention since the rows were read (Vigil running) is not a row surviving its deletion.
      if (deleted.has(l.seq) && (await getSegment(d.db, r.id))) report.problems.push({ kind: 'chain_row_mismatch', cameraId, seq: l.seq, segmentId: r.id, path: r.path, detail: 'row still present after its deletion link' });
    }
    for (const [seq, r] of bySeq) {
      if (!seen.has(seq)) report.problems.push({ kind: 'chain_row_unlinked', cameraId, seq, segmentId: r.id, path: r.path, detail: `row names link ${seq}, which is not a segment link` });
    }
    if (opts.rehash) {
      for (const r of bySeq.values()) {
        const abs = d.store.absPath(r.path);
        if (!(await opts.statFile(abs))) continue; // a missing file is the plain check's finding
        let got: { sha256: string; sizeBytes: number };
        try {
          got = await d.store.digest(abs);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted by retention meanwhile
          throw err;
        }
        report.rehashed++;
        report.bytesHashed += got.sizeBytes;
        if (got.sha256 !== r.sha256 || got.sizeBytes !== r.sizeBytes) {
          report.problems.push({ kind: 'hash_mismatch', cameraId, segmentId: r.id, path: r.path, detail: `file bytes changed: sha256 ${got.sha256.slice(0, 16)}… (${got.sizeBytes} B), row says ${r.sha256?.slice(0, 16)}… (${r.sizeBytes} B)` });
        }
      }
    }
  }
  return report;
}
