import type { Db } from './connection.js';

export interface SigningKeyRow {
  fingerprint: string;
  publicKeyPem: string;
  createdAtMs: number;
  /** Null for the key Vigil signs with now. */
  retiredAtMs: number | null;
}

/**
 * Makes this public key the current one: inserted if new, un-retired if it was retired, and every
 * other key retired (kept, so what they signed stays verifiable). One transaction.
 */
export async function makeSigningKeyCurrent(db: Db, k: { fingerprint: string; publicKeyPem: string }, nowMs: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('signing_keys')
      .values({ fingerprint: k.fingerprint, public_key_pem: k.publicKeyPem, created_at_ms: nowMs, retired_at_ms: null })
      .onConflict((oc) => oc.column('fingerprint').doUpdateSet({ retired_at_ms: null }))
      .execute();
    await trx.updateTable('signing_keys').set({ retired_at_ms: nowMs }).where('fingerprint', '!=', k.fingerprint).where('retired_at_ms', 'is', null).execute();
  });
}

export async function listSigningKeys(db: Db): Promise<SigningKeyRow[]> {
  const rows = await db.selectFrom('signing_keys').selectAll().orderBy('created_at_ms', 'desc').orderBy('fingerprint').execute();
  return rows.map((r) => ({ fingerprint: r.fingerprint, publicKeyPem: r.public_key_pem, createdAtMs: r.created_at_ms, retiredAtMs: r.retired_at_ms }));
}

export async function currentSigningKey(db: Db): Promise<SigningKeyRow | undefined> {
  return (await listSigningKeys(db)).find((k) => k.retiredAtMs === null);
}
