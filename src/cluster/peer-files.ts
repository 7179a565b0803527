import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { clusterSecret, getNode } from '../db/cluster.repo.js';
import type { Db } from '../db/connection.js';
import type { Clock } from '../shared/clock.js';
import { errorMessage, VigilError } from '../shared/errors.js';
import { NODE_HEADER, signNodeRequest } from './peer-auth.js';

/** A segment row held by another node, as far as fetching its file needs. */
export interface PeerSegment {
  id: number;
  nodeId: string;
  path: string;
  sha256: string | null;
  sizeBytes: number;
}

export interface PeerFilesDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  /** This node's id (it signs its requests with it). */
  nodeId: string;
  /** The cluster's request-signing key (the catalog's `cluster_keys`). */
  secret: () => Promise<string>;
  /** Where fetched files are kept (emptied at start-up). */
  cacheDir: string;
  /** Bytes of fetched files kept at most; the least recently used go first. */
  maxCacheBytes: number;
  /** A fetch that takes longer fails (the request answers 503). */
  timeoutMs?: number;
}

/** The cluster's request-signing key, read from the catalog once (again after a failed read). */
export function cachedClusterSecret(db: Db, clock: Clock): () => Promise<string> {
  let secret: Promise<string> | undefined;
  return () =>
    (secret ??= clusterSecret(db, clock.nowMs()).catch((err: unknown) => {
      secret = undefined;
      throw err;
    }));
}

/** Fetched files used within this long are never evicted (a reader may be about to open one). */
const IN_USE_MS = 120_000;

/**
 * Segment files of other nodes, fetched on demand (docs/design.md, "Cluster"): a clip, export,
 * snapshot or playback on this node of footage another node holds reads a local copy. The copy is
 * fetched whole from the holder's `GET /api/v1/cluster/segments/:id/file` with a signed request, checked
 * against the row's size and SHA-256 (a copy that differs is refused, never served), and kept in a
 * bounded cache. The reader's read-lock on the row (in the shared catalog) keeps the holder's retention
 * off the file meanwhile.
 */
export class PeerFiles {
  private readonly inflight = new Map<number, Promise<string>>();

  constructor(private readonly d: PeerFilesDeps) {}

  /** Empties the cache (copies of a previous run may describe rows since deleted). */
  async start(): Promise<void> {
    await rm(this.d.cacheDir, { recursive: true, force: true });
    await mkdir(this.d.cacheDir, { recursive: true });
  }

  /** A local path holding segment `s`'s file, fetched from its node unless cached. Throws `unavailable` (503) when it cannot be had. */
  fetch(s: PeerSegment): Promise<string> {
    let p = this.inflight.get(s.id);
    if (!p) {
      p = this.fetchOnce(s).finally(() => this.inflight.delete(s.id));
      this.inflight.set(s.id, p);
    }
    return p;
  }

  /** A small JSON answer of the segment's node about it (`GET /api/v1/cluster/segments/:id/<what>`). */
  async ask<T>(s: PeerSegment, what: 'head'): Promise<T> {
    return (await (await this.request(s, what, 10_000)).json()) as T;
  }

  /** A signed GET of `/api/v1/cluster/segments/:id/<what>` on the segment's node: its answer when 2xx, else `unavailable`. */
  private async request(s: PeerSegment, what: 'file' | 'head', timeoutMs: number): Promise<Response> {
    const node = await getNode(this.d.db, s.nodeId);
    if (!node) throw unreachable(s, `node "${s.nodeId}" is not in the catalog`);
    const path = `/api/v1/cluster/segments/${s.id}/${what}`;
    const token = signNodeRequest(await this.d.secret(), this.d.nodeId, 'GET', path, this.d.clock.nowMs());
    let res: Response;
    try {
      res = await fetch(`${node.url}${path}`, { headers: { [NODE_HEADER]: token }, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw unreachable(s, `node "${s.nodeId}" (${node.url}) did not answer: ${errorMessage(err)}`);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      throw unreachable(s, `node "${s.nodeId}" (${node.url}) answered ${res.status}`);
    }
    return res;
  }

  private async fetchOnce(s: PeerSegment): Promise<string> {
    const dest = join(this.d.cacheDir, `${s.id}.mp4`);
    const cached = await stat(dest).catch(() => undefined);
    if (cached?.size === s.sizeBytes) {
      const now = new Date(this.d.clock.nowMs());
      await utimes(dest, now, now).catch(() => undefined);
      return dest;
    }
    const started = this.d.clock.nowMs();
    const res = await this.request(s, 'file', this.d.timeoutMs ?? 60_000);
    const part = `${dest}.${process.pid}.part`;
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      const body = Readable.fromWeb(res.body! as import('node:stream/web').ReadableStream<Uint8Array>);
      body.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
      });
      await pipeline(body, createWriteStream(part));
    } catch (err) {
      await rm(part, { force: true });
      throw unreachable(s, `fetching from node "${s.nodeId}" failed: ${errorMessage(err)}`);
    }
    const sha256 = hash.digest('hex');
    if (bytes !== s.sizeBytes || (s.sha256 !== null && sha256 !== s.sha256)) {
      await rm(part, { force: true });
      throw new VigilError('internal', `segment ${s.id} as sent by node "${s.nodeId}" does not match its row (${bytes} B, sha256 ${sha256.slice(0, 12)}…; the row says ${s.sizeBytes} B, ${s.sha256?.slice(0, 12) ?? '—'}…): not served`);
    }
    await rename(part, dest);
    this.d.log.debug({ segmentId: s.id, node: s.nodeId, bytes, ms: this.d.clock.nowMs() - started }, 'fetched a segment from its node');
    await this.evict().catch((err: unknown) => this.d.log.warn({ err }, 'trimming the peer file cache failed'));
    return dest;
  }

  /** Least recently used copies go while the cache is over its bound (never one used in the last two minutes). */
  private async evict(): Promise<void> {
    const names = (await readdir(this.d.cacheDir)).filter((n) => n.endsWith('.mp4'));
    const files = (await Promise.all(names.map(async (n) => ({ path: join(this.d.cacheDir, n), st: await stat(join(this.d.cacheDir, n)).catch(() => undefined) })))).filter((f) => f.st);
    let total = files.reduce((a, f) => a + f.st!.size, 0);
    files.sort((a, b) => a.st!.mtimeMs - b.st!.mtimeMs);
    const now = this.d.clock.nowMs();
    for (const f of files) {
      if (total <= this.d.maxCacheBytes) break;
      if (now - f.st!.mtimeMs < IN_USE_MS) break;
      await rm(f.path, { force: true });
      total -= f.st!.size;
    }
  }
}

function unreachable(s: PeerSegment, why: string): VigilError {
  return new VigilError('unavailable', `footage of segment ${s.id} is held on node "${s.nodeId}": ${why}`, { retryAfterSeconds: 5, details: { node_id: s.nodeId, segment_id: s.id } });
}
