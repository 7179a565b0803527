import { WebSocket } from 'ws';
import { getCamera } from '../db/camera.repo.js';
import { getNode } from '../db/cluster.repo.js';
import type { Db } from '../db/connection.js';
import type { Clock } from '../shared/clock.js';
import { NODE_HEADER, signNodeRequest } from './peer-auth.js';

/** Where a camera's live view comes from when another node records it: that node's live route, signed. */
export interface RelayTarget {
  nodeId: string;
  url: string;
  headers: Record<string, string>;
}

/**
 * Where a viewer of this node watches `cameraId` from: the live route of the node that records it,
 * signed for that path; undefined when this node records it, no node does, its node is silent or
 * stopped, or the stream asked is the sub-stream (opened on demand by any node).
 */
export async function relayTargetFor(
  d: { db: Db; clock: Clock; nodeId: string; leaseTtlMs: number; secret: () => Promise<string> },
  cameraId: string,
  stream: 'main' | 'sub',
  wantsClock: boolean,
): Promise<RelayTarget | undefined> {
  if (stream !== 'main') return undefined;
  const holder = (await getCamera(d.db, cameraId))?.recordingNode;
  if (!holder || holder === d.nodeId) return undefined;
  const node = await getNode(d.db, holder);
  const now = d.clock.nowMs();
  if (!node || node.stoppedAtMs !== null || now - node.heartbeatAtMs > d.leaseTtlMs) return undefined;
  const path = `/api/v1/cameras/${cameraId}/live`;
  const token = signNodeRequest(await d.secret(), d.nodeId, 'GET', path, now);
  return { nodeId: holder, url: `${node.url.replace(/^http/, 'ws')}${path}?stream=main${wantsClock ? '&clock=true' : ''}`, headers: { [NODE_HEADER]: token } };
}

/** The viewer's unsent bytes above which the relay stops reading from the recording node (and below which it reads again). */
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;

/**
 * Relays a viewer of this node to the live view of the node that records the camera (cluster): every
 * message as it comes, the same protocol and close codes. A viewer that stops reading pauses the relay,
 * so the recording node's own slow-viewer handling applies (it drops fragments for this viewer and
 * resumes at a keyframe: invariant 13); nothing piles up here. Returns a function that ends the relay.
 */
export function relayLive(client: WebSocket, target: RelayTarget, log: { warn(obj: object, msg: string): void }): () => void {
  const upstream = new WebSocket(target.url, { headers: target.headers, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, handshakeTimeout: 10_000 });
  let paused = false;
  let ended = false;
  const watch = setInterval(() => {
    if (paused && client.bufferedAmount < LOW_WATER) {
      paused = false;
      upstream.resume();
    }
  }, 50);
  const closeClient = (code: number, reason: string) => {
    if (client.readyState === client.OPEN) client.close(code, reason.slice(0, 120));
  };
  upstream.on('message', (data, isBinary) => {
    if (client.readyState !== client.OPEN) return;
    client.send(data, { binary: isBinary });
    if (!paused && client.bufferedAmount > HIGH_WATER) {
      paused = true;
      upstream.pause();
    }
  });
  upstream.on('close', (code, reason) => {
    clearInterval(watch);
    if (ended) return;
    // 1005/1006 cannot be sent: the recording node went away without a close frame.
    closeClient(code >= 1000 && code <= 4999 && code !== 1005 && code !== 1006 ? code : 1011, reason.toString() || `the recording node "${target.nodeId}" closed the stream`);
  });
  upstream.on('error', (err) => {
    log.warn({ err, node: target.nodeId }, 'live relay: the recording node cannot be reached');
    closeClient(1011, `the recording node "${target.nodeId}" cannot be reached`);
  });
  return () => {
    ended = true;
    clearInterval(watch);
    if (upstream.readyState === upstream.CONNECTING) upstream.terminate();
    else upstream.close(1000);
  };
}
