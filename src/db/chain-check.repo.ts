import type { Db } from './connection.js';

export interface ChainedRow {
  id: number;
  path: string;
  startMs: number;
  endMs: number;
  sizeBytes: number;
  sha256: string | null;
  chainSeq: number | null;
  chainHash: string | null;
}

/** One camera's segments with their hash and chain columns, for `check --deep`. */
export async function chainedRows(db: Db, cameraId: string): Promise<ChainedRow[]> {
  const rows = await db
    .selectFrom('segments')
    .select(['id', 'path', 'start_ms', 'end_ms', 'size_bytes', 'sha256', 'chain_seq', 'chain_hash'])
    .where('camera_id', '=', cameraId)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    path: r.path,
    startMs: r.start_ms,
    endMs: r.end_ms,
    sizeBytes: r.size_bytes,
    sha256: r.sha256,
    chainSeq: r.chain_seq,
    chainHash: r.chain_hash,
  }));
}

/** Cameras with segments or chain links. */
export async function camerasWithFootage(db: Db): Promise<string[]> {
  const a = await db.selectFrom('segments').select('camera_id').distinct().execute();
  const b = await db.selectFrom('chain_links').select('camera_id').distinct().execute();
  return [...new Set([...a, ...b].map((r) => r.camera_id))].sort();
}

/** fingerprint → public key PEM of every key Vigil has signed with. */
export async function publicKeysByFingerprint(db: Db): Promise<Map<string, string>> {
  const rows = await db.selectFrom('signing_keys').select(['fingerprint', 'public_key_pem']).execute();
  return new Map(rows.map((r) => [r.fingerprint, r.public_key_pem]));
}
