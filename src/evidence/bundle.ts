import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import yazl from 'yazl';
import { getCamera } from '../db/camera.repo.js';
import { linksOfSegments, type ChainLink } from '../db/chain.repo.js';
import { publicKeysByFingerprint } from '../db/chain-check.repo.js';
import type { Db } from '../db/connection.js';
import type { ExportJob } from '../db/export.repo.js';
import { listGaps } from '../db/gap.repo.js';
import { listAllSegments, type Segment } from '../db/segment.repo.js';
import type { ClipService } from '../export/clip.service.js';
import { toIso } from '../shared/time.js';
import { VigilError } from '../shared/errors.js';
import type { FootageStore } from '../storage/footage-store.js';
import type { SigningKey } from './signing-key.js';
import { BUNDLE_FORMAT } from '../shared/evidence-hash.js';

/**
 * The page that verifies a bundle in a browser, offline (shipped next to this module; named by way of its
 * folder, as this code may run from the server's bundle in dist/cli/, one folder below dist/ too).
 */
const VERIFY_PAGE = new URL('../evidence/verify-page.html', import.meta.url);

export interface BundleDeps {
  db: Db;
  store: FootageStore;
  /** Cuts each camera's clip exactly as the clip route does. */
  clips: ClipService;
  key: SigningKey;
  vigilVersion: string;
}

export interface BundleResult {
  sizeBytes: number;
  sha256: string;
  manifestSha256: string;
}

interface FileEntry {
  path: string;
  sha256: string;
  size_bytes: number;
}

interface Range {
  from: string;
  to: string;
  from_ms: number;
  to_ms: number;
}

const range = (fromMs: number, toMs: number): Range => ({ from: toIso(fromMs), to: toIso(toMs), from_ms: fromMs, to_ms: toMs });

/**
 * Writes one export's bundle (docs/evidence.md, "Export bundles") to `outPath`, streamed: the clips
 * and segment files pass through SHA-256 into the zip as they are made, and the signed manifest is
 * written last, once every hash is known. The segments must stay read-locked by the caller for the
 * whole build. `progress` is told the fraction done (0..1) as bytes go by.
 */
export async function writeBundle(
  d: BundleDeps,
  job: ExportJob,
  segmentsByCamera: Map<string, Segment[]>,
  outPath: string,
  progress: (fraction: number) => void,
  signal: AbortSignal,
): Promise<BundleResult> {
  const zip = new yazl.ZipFile();
  const mtime = new Date(job.createdAtMs);
  const out = createWriteStream(outPath, { flags: 'wx', mode: 0o600 });
  const zipDigest = new HashingPass();
  zip.outputStream.pipe(zipDigest).pipe(out);
  const written = finished(out);
  // A failed write fails the build at once rather than after every entry is queued.
  written.catch(() => undefined);
  const files: FileEntry[] = [];
  const totalBytes = [...segmentsByCamera.values()].flat().reduce((a, s) => a + s.sizeBytes, 0) * (job.includeSegments ? 2 : 1) || 1;
  let doneBytes = 0;
  const tick = (n: number) => {
    doneBytes += n;
    progress(Math.min(0.99, doneBytes / totalBytes));
  };

  /** Adds a stream as a stored entry, hashing it on the way; resolves once the zip has taken all of it. */
  const addStream = async (path: string, body: Readable): Promise<FileEntry> => {
    // A transform, not a 'data' listener: the zip reads it when it reaches this entry, not before.
    const tap = new HashingPass(tick);
    body.on('error', (err) => tap.destroy(err));
    body.pipe(tap);
    zip.addReadStream(tap, path, { compress: false, mtime, mode: 0o100644 });
    await finished(tap);
    signal.throwIfAborted();
    const entry = { path, sha256: tap.hex(), size_bytes: tap.bytes };
    files.push(entry);
    return entry;
  };
  const addBuffer = (path: string, data: Buffer): FileEntry => {
    zip.addBuffer(data, path, { compress: false, mtime, mode: 0o100644 });
    const entry = { path, sha256: createHash('sha256').update(data).digest('hex'), size_bytes: data.length };
    files.push(entry);
    return entry;
  };

  try {
    const allSegments = [...segmentsByCamera.values()].flat();
    const links = new Map<number, ChainLink>();
    for (const l of await linksOfSegments(d.db, allSegments.map((s) => s.id))) if (l.kind === 'segment') links.set(l.segmentId, l);
    const keys = await publicKeysByFingerprint(d.db);
    const usedKeys = new Set<string>();

    const cameras: unknown[] = [];
    for (const cameraId of job.cameraIds) {
      const segments = segmentsByCamera.get(cameraId) ?? [];
      const cam = await getCamera(d.db, cameraId);
      let clip: { file: string; sha256: string; size_bytes: number } | null = null;
      let delivered: Range | null = null;
      let coveredMs = 0;
      if (segments.length > 0) {
        const first = segments[0]!;
        const last = segments.at(-1)!;
        const download = await d.clips.open(cameraId, { fromMs: job.fromMs, toMs: job.toMs }, signal);
        const entry = await addStream(`clips/${cameraId}.mp4`, download.body);
        clip = { file: entry.path, sha256: entry.sha256, size_bytes: entry.size_bytes };
        coveredMs = download.coveredMs;
        delivered = range(Math.max(job.fromMs, first.startMs), Math.min(job.toMs, last.endMs));
      }
      const segOut: unknown[] = [];
      for (const s of segments) {
        let file: string | null = null;
        if (job.includeSegments) {
          const abs = await d.store.resolveSegment(s);
          if (!abs) throw new VigilError('internal', `segment ${s.id}'s file ${s.path} is missing`);
          const entry = await addStream(`segments/${cameraId}/${basename(s.path)}`, createReadStream(abs));
          if (s.sha256 !== null && (entry.sha256 !== s.sha256 || entry.size_bytes !== s.sizeBytes)) {
            throw new VigilError('internal', `segment ${s.id}'s file ${s.path} no longer matches the hash it was indexed with: refusing to export altered footage`);
          }
          file = entry.path;
        }
        const link = links.get(s.id);
        if (link?.keyFingerprint) usedKeys.add(link.keyFingerprint);
        segOut.push({
          id: s.id,
          start: toIso(s.startMs),
          end: toIso(s.endMs),
          start_ms: s.startMs,
          end_ms: s.endMs,
          size_bytes: s.sizeBytes,
          sha256: s.sha256,
          source: s.source,
          media_offset_ms: s.mediaOffsetMs,
          file,
          chain: link
            ? { seq: link.seq, prev_hash: link.prevHash, chain_hash: link.chainHash, signature: link.signature, key_fingerprint: link.keyFingerprint }
            : null,
        });
      }
      const gaps = (await listGaps(d.db, cameraId, job.fromMs, job.toMs)).map((g) => ({
        start: toIso(Math.max(g.gapStartMs, job.fromMs)),
        end: toIso(Math.min(g.gapEndMs, job.toMs)),
        seconds: (Math.min(g.gapEndMs, job.toMs) - Math.max(g.gapStartMs, job.fromMs)) / 1000,
        fill_state: g.fillState,
      }));
      cameras.push({ id: cameraId, name: cam?.name ?? cameraId, clip, delivered_range: delivered, covered_ms: coveredMs, segments: segOut, gaps });
    }

    addBuffer('public-key.pem', Buffer.from(d.key.publicKeyPem));
    addBuffer('VERIFY.txt', Buffer.from(verifyText(job, d.key.fingerprint)));
    addBuffer('verify.html', await readFile(VERIFY_PAGE));

    const manifest = {
      format: BUNDLE_FORMAT,
      vigil_version: d.vigilVersion,
      export_id: job.id,
      created_at: toIso(job.createdAtMs),
      requested_by: job.requestedBy,
      reason: job.reason,
      incident_id: job.incidentId,
      request_id: job.requestId,
      requested_range: range(job.fromMs, job.toMs),
      time: {
        source: 'recording host clock (UTC)',
        max_error_ms: null,
        note:
          "Segment times are the recording host's clock when each segment was written, corrected for the length of the media; " +
          'Vigil does not yet measure the error of that clock or of the cameras\' clocks, so no bound is claimed.',
      },
      signing_key: { algorithm: 'Ed25519', fingerprint: d.key.fingerprint, file: 'public-key.pem' },
      chain_keys: [...usedKeys].sort().map((fp) => ({ fingerprint: fp, public_key_pem: keys.get(fp) ?? null })),
      cameras,
      files,
    };
    const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    zip.addBuffer(manifestBytes, 'manifest.json', { compress: false, mtime, mode: 0o100644 });
    zip.addBuffer(Buffer.from(`${d.key.sign(manifestBytes).signature}\n`), 'manifest.sig', { compress: false, mtime, mode: 0o100644 });
    zip.end();
    await written;
    return { sizeBytes: zipDigest.bytes, sha256: zipDigest.hex(), manifestSha256: createHash('sha256').update(manifestBytes).digest('hex') };
  } catch (err) {
    zip.outputStream.unpipe();
    out.destroy();
    throw err;
  }
}

/** Passes bytes through unchanged, hashing and counting them (and telling `onChunk` of each). */
class HashingPass extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly onChunk?: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err: null, chunk: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onChunk?.(chunk.length);
    cb(null, chunk);
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}

/** Every segment of the job's cameras overlapping its range, oldest first. */
export async function segmentsOf(db: Db, job: ExportJob): Promise<Map<string, Segment[]>> {
  const out = new Map<string, Segment[]>();
  for (const cameraId of job.cameraIds) out.set(cameraId, await listAllSegments(db, cameraId, job.fromMs, job.toMs));
  return out;
}

function verifyText(job: ExportJob, fingerprint: string): string {
  return `Vigil evidence bundle ${job.id}
Requested by ${job.requestedBy} on ${toIso(job.createdAtMs)}; reason: ${job.reason}${job.incidentId ? `; incident ${job.incidentId}` : ''}.

WHAT THIS IS
manifest.json lists every file in this bundle with its SHA-256 and size, every recorded segment
the clips were cut from (with its SHA-256 and its signed link in the camera's hash chain), the gaps
in the recording, and who exported it, when and why. manifest.sig is an Ed25519 signature of
manifest.json by the key in public-key.pem, whose fingerprint is:

    ${fingerprint}

Check that fingerprint against the one the operator of this Vigil published (GET /api/v1/signing-key
shows it). If it matches and verification passes, no byte of this bundle has changed since Vigil
signed it.

HOW TO VERIFY
1. With Vigil installed (no database or network needed):
       vigil verify --fingerprint ${fingerprint} <this-file>.zip
   Exit status 0 means valid; otherwise it names every file or fact that does not agree.
2. In a browser, offline: extract verify.html, open it, choose this .zip file.
3. By hand: sha256sum each file and compare with manifest.json's "files"; verify manifest.sig
   (base64) over manifest.json with public-key.pem, e.g.
       base64 -d manifest.sig > manifest.sig.bin
       openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in manifest.json -sigfile manifest.sig.bin
   The chain rules are documented in Vigil's docs/evidence.md.
`;
}
