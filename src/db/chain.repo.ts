import type { Selectable, Transaction } from 'kysely';
import type { Db } from './connection.js';
import type { ChainLinksTable, Database } from './schema.js';
import { chainHash, checkpointText, GENESIS_HASH, type ChainLinkFacts, type Signer } from '../shared/evidence-hash.js';

/**
 * Each camera's hash chain (invariant 10): an append-only log of links, one per segment indexed and
 * one per segment deleted. Appends happen inside the transaction that inserts or deletes the row, so
 * a row and its link exist together or not at all. Every link is signed with Vigil's key (invariant 10):
 * anyone can recompute a hash, only the key's holder can sign one. On SQLite the write transaction serialises
 * appends; the tail is read inside it.
 */

export interface ChainLink extends ChainLinkFacts {
  segmentId: number;
  prevHash: string;
  chainHash: string;
  signature: string | null;
  keyFingerprint: string | null;
  atMs: number;
}

export function toChainLink(r: Selectable<ChainLinksTable>): ChainLink {
  return {
    cameraId: r.camera_id,
    seq: r.seq,
    kind: r.kind,
    segmentId: r.segment_id,
    targetSeq: r.target_seq,
    reason: r.reason,
    startMs: r.start_ms,
    endMs: r.end_ms,
    sizeBytes: r.size_bytes,
    sha256: r.sha256,
    prevHash: r.prev_hash,
    chainHash: r.chain_hash,
    signature: r.signature,
    keyFingerprint: r.key_fingerprint,
    atMs: r.at_ms,
  };
}

type Trx = Transaction<Database>;

async function tail(trx: Trx | Db, cameraId: string): Promise<{ seq: number; hash: string }> {
  const last = await trx
    .selectFrom('chain_links')
    .select(['seq', 'chain_hash'])
    .where('camera_id', '=', cameraId)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  return last ? { seq: last.seq, hash: last.chain_hash } : { seq: 0, hash: GENESIS_HASH };
}

/**
 * Hashes `facts` onto the link before it (`prev`), signs the hash and appends the link: the one place
 * a link is made, segment or deletion alike. Signed, so rewriting the chain from some link on needs
 * the private key, not just the catalog.
 */
async function appendLink(trx: Trx, prev: string, facts: ChainLinkFacts, segmentId: number, signer: Signer | undefined, nowMs: number): Promise<ChainLink> {
  const hash = chainHash(prev, facts);
  const sig = signer?.sign(Buffer.from(hash, 'utf8'));
  const row = await trx
    .insertInto('chain_links')
    .values({
      camera_id: facts.cameraId,
      seq: facts.seq,
      kind: facts.kind,
      segment_id: segmentId,
      target_seq: facts.targetSeq ?? null,
      reason: facts.reason ?? null,
      start_ms: facts.startMs,
      end_ms: facts.endMs,
      size_bytes: facts.sizeBytes,
      sha256: facts.sha256,
      prev_hash: prev,
      chain_hash: hash,
      signature: sig?.signature ?? null,
      key_fingerprint: sig?.fingerprint ?? null,
      at_ms: nowMs,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toChainLink(row);
}

/** Appends the link of a segment row just inserted and stores it on the row too. */
export async function appendSegmentLink(
  trx: Trx,
  s: { id: number; cameraId: string; startMs: number; endMs: number; sizeBytes: number; sha256: string },
  signer: Signer | undefined,
  nowMs: number,
): Promise<ChainLink> {
  const t = await tail(trx, s.cameraId);
  const facts: ChainLinkFacts = { cameraId: s.cameraId, seq: t.seq + 1, kind: 'segment', startMs: s.startMs, endMs: s.endMs, sizeBytes: s.sizeBytes, sha256: s.sha256 };
  const link = await appendLink(trx, t.hash, facts, s.id, signer, nowMs);
  await trx.updateTable('segments').set({ chain_seq: link.seq, chain_hash: link.chainHash }).where('id', '=', s.id).execute();
  return link;
}

export interface DeletedRow {
  id: number;
  camera_id: string;
  start_ms: number;
  end_ms: number;
  size_bytes: number;
  sha256: string | null;
  chain_seq: number | null;
}

/**
 * Appends a signed deletion link for each deleted row that had a link of its own (rows indexed before
 * hashing have none): a deletion by policy is recorded, so only a silent DELETE breaks the chain.
 */
export async function appendDeletionLinks(trx: Trx, rows: readonly DeletedRow[], reason: string, signer: Signer | undefined, nowMs: number): Promise<void> {
  const tails = new Map<string, { seq: number; hash: string }>();
  for (const r of rows) {
    if (r.chain_seq === null || r.sha256 === null) continue;
    const t = tails.get(r.camera_id) ?? (await tail(trx, r.camera_id));
    const facts: ChainLinkFacts = {
      cameraId: r.camera_id,
      seq: t.seq + 1,
      kind: 'deletion',
      targetSeq: r.chain_seq,
      reason,
      startMs: r.start_ms,
      endMs: r.end_ms,
      sizeBytes: r.size_bytes,
      sha256: r.sha256,
    };
    const link = await appendLink(trx, t.hash, facts, r.id, signer, nowMs);
    tails.set(r.camera_id, { seq: link.seq, hash: link.chainHash });
  }
}

/** A camera's links in order, `limit` at a time after `afterSeq`. */
export async function listChainLinks(db: Db, cameraId: string, afterSeq: number, limit: number): Promise<ChainLink[]> {
  const rows = await db
    .selectFrom('chain_links')
    .selectAll()
    .where('camera_id', '=', cameraId)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map(toChainLink);
}

/** The links naming these segments (their own link and any deletion link), for manifests. */
export async function linksOfSegments(db: Db, segmentIds: readonly number[]): Promise<ChainLink[]> {
  if (segmentIds.length === 0) return [];
  const out: ChainLink[] = [];
  for (let i = 0; i < segmentIds.length; i += 500) {
    const rows = await db.selectFrom('chain_links').selectAll().where('segment_id', 'in', segmentIds.slice(i, i + 500)).orderBy('camera_id').orderBy('seq').execute();
    out.push(...rows.map(toChainLink));
  }
  return out;
}

/** Cameras that have a chain. */
export async function chainCameras(db: Db): Promise<string[]> {
  const rows = await db.selectFrom('chain_links').select('camera_id').distinct().orderBy('camera_id').execute();
  return rows.map((r) => r.camera_id);
}

export async function chainTail(db: Db, cameraId: string): Promise<{ seq: number; hash: string }> {
  return tail(db, cameraId);
}

export interface ChainCheckpoint {
  cameraId: string;
  firstSeq: number;
  prevHash: string;
  signature: string;
  keyFingerprint: string;
  atMs: number;
}

/** Where a camera's chain starts now: its latest checkpoint, or undefined (link 1 after the genesis hash). */
export async function latestCheckpoint(db: Db, cameraId: string): Promise<ChainCheckpoint | undefined> {
  const r = await db.selectFrom('chain_checkpoints').selectAll().where('camera_id', '=', cameraId).orderBy('first_seq', 'desc').limit(1).executeTakeFirst();
  return r ? { cameraId: r.camera_id, firstSeq: r.first_seq, prevHash: r.prev_hash, signature: r.signature, keyFingerprint: r.key_fingerprint, atMs: r.at_ms } : undefined;
}

/**
 * Compacts a camera's chain: the links before its oldest live segment's link name only footage that is
 * gone (each deleted with a signed deletion link), so a signed checkpoint ("the chain starts at link P,
 * after hash H") replaces them, and they are removed, in one transaction. Without it the chain would
 * grow by a link per segment forever (about 200 MB a year per camera at 60-s segments). Returns the
 * links removed.
 */
export async function compactChain(db: Db, cameraId: string, signer: Signer, nowMs: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const oldest = await trx
      .selectFrom('segments')
      .select((eb) => eb.fn.min<number | null>('chain_seq').as('seq'))
      .where('camera_id', '=', cameraId)
      .where('chain_seq', 'is not', null)
      .executeTakeFirst();
    const t = await tail(trx, cameraId);
    // No live segment: the whole chain up to its tail names deleted footage; keep the tail link itself,
    // so the chain still ends where it ended.
    const first = oldest?.seq ?? t.seq;
    const current = (await trx.selectFrom('chain_checkpoints').select((eb) => eb.fn.max<number | null>('first_seq').as('s')).where('camera_id', '=', cameraId).executeTakeFirst())?.s ?? 1;
    if (first <= current) return 0;
    const link = await trx.selectFrom('chain_links').select(['prev_hash']).where('camera_id', '=', cameraId).where('seq', '=', first).executeTakeFirst();
    if (!link) return 0; // the chain is not whole here: leave it for check --deep to report
    const sig = signer.sign(Buffer.from(checkpointText(cameraId, first, link.prev_hash), 'utf8'));
    await trx
      .insertInto('chain_checkpoints')
      .values({ camera_id: cameraId, first_seq: first, prev_hash: link.prev_hash, signature: sig.signature, key_fingerprint: sig.fingerprint, at_ms: nowMs })
      .execute();
    const res = await trx.deleteFrom('chain_links').where('camera_id', '=', cameraId).where('seq', '<', first).executeTakeFirst();
    return Number(res.numDeletedRows);
  });
}
