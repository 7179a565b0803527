import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { NODE_HEADER, verifyNodeRequest } from '../../cluster/peer-auth.js';
import { listLeases, listNodes, pinCamera, setDraining } from '../../db/cluster.repo.js';
import type { Db } from '../../db/connection.js';
import type { PlaybackService } from '../../export/playback.service.js';
import type { Clock } from '../../shared/clock.js';
import { notFound, VigilError } from '../../shared/errors.js';
import { toIso } from '../../shared/time.js';
import { CameraIdParams, ErrorRef } from '../schemas/common.js';
import { NODE_ID_PATTERN } from '../../config/camera.schema.js';
import { SegmentIdParams } from '../schemas/evidence.schemas.js';
import { binaryResponse } from '../schemas/export.schemas.js';
import { disconnectSignal } from '../disconnect.js';
import { sendMedia } from './playback.routes.js';

export interface ClusterRouteDeps {
  db: Db;
  clock: Clock;
  playback: PlaybackService;
  /** This node in a cluster; undefined on a single Vigil (the node routes then list nothing, the peer routes answer 404). */
  node?: { nodeId: string; leaseTtlMs: number; secret(): Promise<string>; kick(): void } | undefined;
}

const NodeIdParams = Type.Object({ id: Type.String({ pattern: NODE_ID_PATTERN, description: 'Node id.' }) }, { additionalProperties: false });
const NodeOut = Type.Object({
  id: Type.String(),
  url: Type.String(),
  state: Type.Union(['up', 'draining', 'silent', 'stopped'].map((s) => Type.Literal(s)), { description: 'silent: no heartbeat for longer than the lease TTL (its cameras go to the other nodes).' }),
  draining: Type.Boolean(),
  capacity: Type.Integer(),
  started_at: Type.String(),
  heartbeat_at: Type.String(),
  cameras: Type.Array(Type.String(), { description: 'Cameras it holds a lease on (records).' }),
});
const tags = ['cluster'];

/**
 * The cluster (docs/api.md, "Cluster"): the nodes and their cameras, drain/resume, pins; and the two
 * routes nodes use between themselves for footage another node holds, answered only to a request
 * signed with the cluster's key (`X-Vigil-Node`): a user's session or API key opens neither.
 */
export const clusterRoutes: FastifyPluginAsyncTypebox<ClusterRouteDeps> = async (app, d) => {
  const requireNode = () => {
    if (!d.node) throw new VigilError('failed_precondition', 'this Vigil is not a node of a cluster (no `cluster:` in its config)', { field: 'cluster' });
    return d.node;
  };

  app.get('/nodes', {
    schema: { tags, summary: 'The nodes of the cluster, each with the cameras it records (empty on a single Vigil).', response: { 200: Type.Object({ cluster: Type.Boolean(), node_id: Type.Union([Type.String(), Type.Null()]), nodes: Type.Array(NodeOut) }) } },
    config: { access: { cap: 'cameras.view', scope: 'all-cameras' } },
  }, async () => {
    const now = d.clock.nowMs();
    const ttl = d.node?.leaseTtlMs ?? 15_000;
    const [nodes, leases] = await Promise.all([listNodes(d.db), listLeases(d.db)]);
    return {
      cluster: d.node !== undefined,
      node_id: d.node?.nodeId ?? null,
      nodes: nodes.map((n) => ({
        id: n.id,
        url: n.url,
        state: (n.stoppedAtMs !== null ? 'stopped' : now - n.heartbeatAtMs > ttl ? 'silent' : n.draining ? 'draining' : 'up') as 'up',
        draining: n.draining,
        capacity: n.capacity,
        started_at: toIso(n.startedAtMs),
        heartbeat_at: toIso(n.heartbeatAtMs),
        cameras: leases.filter((l) => l.nodeId === n.id && l.expiresAtMs >= now).map((l) => l.cameraId),
      })),
    };
  });

  for (const [verb, draining] of [['drain', true], ['resume', false]] as const) {
    app.post(`/nodes/:id/${verb}`, {
      schema: {
        tags,
        summary: draining ? 'Drain a node: it hands every camera to the other nodes (each recorder stops after its last segment is indexed) and takes none until resumed.' : 'Resume a drained node: it takes cameras again.',
        params: NodeIdParams,
        response: { 200: Type.Object({ id: Type.String(), draining: Type.Boolean() }), 400: ErrorRef, 404: ErrorRef },
      },
      config: { access: { cap: 'cameras.manage', scope: 'all-cameras' }, audit: `node.${verb}`, auditTarget: 'node' },
    }, async (req) => {
      requireNode();
      if (!(await setDraining(d.db, req.params.id, draining))) throw notFound(`node "${req.params.id}" not found`, 'id');
      d.node?.kick();
      return { id: req.params.id, draining };
    });
  }

  app.put('/cameras/:id/node', {
    schema: {
      tags,
      summary: 'Pin a camera to a node (it records there whenever that node is up and not draining), or unpin it (node_id null).',
      params: CameraIdParams,
      body: Type.Object({ node_id: Type.Union([Type.String({ pattern: NODE_ID_PATTERN }), Type.Null()]) }, { additionalProperties: false }),
      response: { 200: Type.Object({ camera_id: Type.String(), pinned_node: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorRef, 404: ErrorRef },
    },
    config: { access: { cap: 'cameras.manage', scope: 'camera' }, audit: 'camera.pin' },
  }, async (req) => {
    requireNode();
    const nodeId = req.body.node_id;
    if (nodeId !== null && !(await listNodes(d.db)).some((n) => n.id === nodeId)) throw new VigilError('invalid_argument', `no node "${nodeId}" in the cluster`, { field: 'node_id' });
    if (!(await pinCamera(d.db, req.params.id, nodeId))) throw notFound(`camera "${req.params.id}" not found`, 'id');
    d.node?.kick();
    return { camera_id: req.params.id, pinned_node: nodeId };
  });

  /** The peer routes: a valid signature of another node, for this very path, or 404 (nothing said to anyone else). */
  const fromPeer = async (method: string, url: string, header: string | string[] | undefined): Promise<void> => {
    const node = d.node;
    const token = Array.isArray(header) ? header[0] : header;
    if (!node || !verifyNodeRequest(await node.secret(), token, method, url.split('?')[0]!, d.clock.nowMs())) throw notFound('not found');
  };

  app.get('/cluster/segments/:id/file', {
    schema: { tags, summary: 'Between nodes: one of this node\'s segment files, whole (signed node request only).', params: SegmentIdParams, response: { 200: binaryResponse('video/mp4', 'The file.'), 404: ErrorRef } },
    config: { access: { cap: 'public' } },
  }, async (req, reply) => {
    await fromPeer('GET', req.url, req.headers[NODE_HEADER]);
    const media = await d.playback.openMedia(Number(req.params.id), { rangeHeader: undefined, head: false }, disconnectSignal(reply), { localOnly: true });
    return sendMedia(reply, media);
  });

  app.get('/cluster/segments/:id/head', {
    schema: { tags, summary: 'Between nodes: where a segment file\'s init segment and fragments are (for another node\'s playlist).', params: SegmentIdParams, response: { 404: ErrorRef } },
    config: { access: { cap: 'public' } },
  }, async (req) => {
    await fromPeer('GET', req.url, req.headers[NODE_HEADER]);
    const head = await d.playback.localHead(Number(req.params.id));
    if (!head) throw notFound(`segment ${req.params.id} not found on this node`, 'id');
    return head;
  });
};
