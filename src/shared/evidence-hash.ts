/**
 * The hashes evidence rests on, as pure functions shared by the catalog (which appends links), the
 * exporter (which copies them into manifests) and the offline verifier (which recomputes them with no
 * database). docs/evidence.md states the same rules for anyone writing their own verifier.
 */
import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';

/** The `format` of a bundle's manifest.json (docs/evidence.md). */
export const BUNDLE_FORMAT = 'vigil-evidence-bundle/1';

/** The `prev_hash` of a camera's first link. */
export const GENESIS_HASH = '0'.repeat(64);

export const SHA256_HEX = /^[0-9a-f]{64}$/;

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A link as hashed: what the catalog stores in `chain_links` and a manifest repeats. */
export interface ChainLinkFacts {
  cameraId: string;
  seq: number;
  kind: 'segment' | 'deletion';
  startMs: number;
  endMs: number;
  sizeBytes: number;
  sha256: string;
  /** Deletion links only: the seq of the segment link it ends, and why. */
  targetSeq?: number | null;
  reason?: string | null;
}

/**
 * chain_hash = SHA-256 of the UTF-8 text `prev ‖ camera ‖ start_ms ‖ end_ms ‖ size ‖ sha256`, the
 * parts joined by a line feed (camera ids cannot hold one). A deletion link hashes
 * `prev ‖ camera ‖ "deletion" ‖ target_seq ‖ reason ‖ start_ms ‖ end_ms ‖ size ‖ sha256`, so it can
 * never be mistaken for a segment link.
 */
export function chainHash(prevHash: string, l: ChainLinkFacts): string {
  const parts =
    l.kind === 'segment'
      ? [prevHash, l.cameraId, l.startMs, l.endMs, l.sizeBytes, l.sha256]
      : [prevHash, l.cameraId, 'deletion', l.targetSeq ?? '', l.reason ?? '', l.startMs, l.endMs, l.sizeBytes, l.sha256];
  return sha256Hex(parts.join('\n'));
}

/** What a chain checkpoint signs: the chain of `cameraId` starts at link `firstSeq`, after `prevHash`. */
export function checkpointText(cameraId: string, firstSeq: number, prevHash: string): string {
  return [cameraId, firstSeq, prevHash].join('\n');
}

/** Signs bytes with Vigil's current key; names the key so a verifier finds the right public key. */
export interface Signer {
  sign(data: Uint8Array): { signature: string; fingerprint: string };
}

/** Fingerprint of an Ed25519 public key: hex SHA-256 of its raw 32 bytes (the last 32 of the SPKI DER). */
export function keyFingerprint(publicKey: KeyObject | string): string {
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  const der = key.export({ type: 'spki', format: 'der' });
  return sha256Hex(der.subarray(der.length - 32));
}

/** Checks a base64 Ed25519 signature against a PEM public key; false on any malformed part. */
export function verifyEd25519(publicKeyPem: string, data: Uint8Array, signatureB64: string): boolean {
  try {
    const key = createPublicKey(publicKeyPem);
    if (key.asymmetricKeyType !== 'ed25519') return false;
    return verifySignature(null, data, key, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}
