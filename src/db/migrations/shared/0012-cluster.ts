import { sql, type Kysely } from 'kysely';
import type { CatalogEngine, SharedMigration } from '../types.js';

/**
 * Several recording nodes on one catalog (docs/design.md, "Cluster"):
 *
 * - `nodes`: each `vigil serve` with `cluster:` set registers here (its id, the URL other nodes and
 *   browsers reach it at, how many cameras it takes at most) and beats its heartbeat; `draining` asks it
 *   to hand every camera off (set by `vigil node drain`, kept across restarts until `vigil node resume`).
 * - `camera_leases`: which node records a camera. A node records only what it holds a lease on; the
 *   lease ends at `expires_at_ms` unless its holder renews it. `token` grows by one at every
 *   acquisition: the fencing token. A segment row is written only by the node holding the camera's
 *   lease with the token its recorder started under (invariant 14), so a node that lost its lease
 *   (paused, cut off) never writes rows for that camera again. `node_id` NULL: released.
 * - `cluster_keys`: one random key, created by the first node, with which nodes sign their requests to
 *   each other (a node fetching another's segment file; docs/design.md, "Cluster").
 * - `cameras.pinned_node`: an admin's choice of node for a camera (NULL: any).
 * - `segments.node_id`, `segment_tombstones.node_id`: the node whose data dir holds the file (NULL: a
 *   single Vigil, no cluster); retention and crash recovery on a node touch only its own.
 */
export const migration: SharedMigration = {
  async up(db: Kysely<unknown>, engine: CatalogEngine): Promise<void> {
    const pg = engine === 'postgres';
    const T = pg ? 'TEXT COLLATE "C"' : 'TEXT';
    const I = pg ? 'BIGINT' : 'INTEGER';
    const strict = pg ? '' : ' STRICT';
    await sql.raw(`CREATE TABLE nodes (
      id              ${T} PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
      url             ${T} NOT NULL,
      capacity        ${I} NOT NULL CHECK (capacity > 0),
      draining        ${I} NOT NULL DEFAULT 0 CHECK (draining IN (0, 1)),
      started_at_ms   ${I} NOT NULL,
      heartbeat_at_ms ${I} NOT NULL,
      stopped_at_ms   ${I}
    )${strict}`).execute(db);
    await sql.raw(`CREATE TABLE camera_leases (
      camera_id      ${T} PRIMARY KEY REFERENCES cameras(id),
      node_id        ${T} REFERENCES nodes(id),
      token          ${I} NOT NULL CHECK (token > 0),
      acquired_at_ms ${I} NOT NULL,
      expires_at_ms  ${I} NOT NULL
    )${strict}`).execute(db);
    await sql.raw(`CREATE INDEX camera_leases_node ON camera_leases (node_id)`).execute(db);
    // The nodes' shared key: a node asks another for a segment file with a request signed by it.
    await sql.raw(`CREATE TABLE cluster_keys (
      id            ${I} PRIMARY KEY CHECK (id = 1),
      secret        ${T} NOT NULL CHECK (length(secret) = 64),
      created_at_ms ${I} NOT NULL
    )${strict}`).execute(db);
    // Block comments: SQLite splices an added column's text into the stored CREATE TABLE.
    await sql.raw(`ALTER TABLE cameras ADD COLUMN pinned_node ${T} /* the node an admin pinned the camera to */`).execute(db);
    await sql.raw(`ALTER TABLE segments ADD COLUMN node_id ${T} /* the node whose data dir holds the file */`).execute(db);
    await sql.raw(`ALTER TABLE segment_tombstones ADD COLUMN node_id ${T} /* the node whose data dir holds the file */`).execute(db);
  },
};
