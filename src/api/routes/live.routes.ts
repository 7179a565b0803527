import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import type {} from '@fastify/websocket';
import type { WebSocket } from 'ws';
import { LIVE_CLOSE, type ViewerConnection } from '../../live/live-channel.js';
import type { AuthService } from '../../auth/auth.service.js';
import { inScope } from '../../auth/capabilities.js';
import type { LiveHub } from '../../live/live-hub.js';
import { relayLive, type RelayTarget } from '../../cluster/live-relay.js';
import { VigilError, errorMessage } from '../../shared/errors.js';
import { CameraIdParams, ErrorRef } from '../schemas/common.js';

const LiveQuery = Type.Object(
  {
    stream: Type.Optional(
      Type.Union([Type.Literal('main'), Type.Literal('sub')], {
        default: 'main',
        description: 'main: the recorded stream (no second camera connection); sub: the camera\'s sub_url, started on demand.',
      }),
    ),
    clock: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'true: each fragment is preceded by `{"type":"time","wall_ms","duration_ms"}`, its first frame\'s wall-clock instant on the ' +
          'recording\'s time mapping (main stream only; the sub-stream is not recorded, so it has no mapping).',
      }),
    ),
  },
  { additionalProperties: false },
);
type LiveQuery = Static<typeof LiveQuery>;

/**
 * A viewer that answers no ping for this long is gone (its TCP connection may never say so). Long
 * enough for a client that stops reading for a while (a background tab) to come back.
 */
const PING_INTERVAL_MS = 30_000;
/** A closed viewer that does not answer the close handshake (it stopped reading) is cut off after this. */
const CLOSE_GRACE_MS = 2_000;
/**
 * How often an open viewer's access is checked again (invariant 12: access ends when the identity
 * loses it, open streams too, within a second).
 */
const ACCESS_RECHECK_MS = 500;

function connectionOf(socket: WebSocket, wantsClock: boolean): ViewerConnection {
  const open = () => socket.readyState === socket.OPEN;
  return {
    wantsClock,
    bufferedBytes: () => socket.bufferedAmount,
    sendText: (text) => {
      if (open()) socket.send(text);
    },
    sendBinary: (data) => {
      if (open()) socket.send(data, { binary: true });
    },
    close: (code, reason) => {
      if (!open()) return;
      socket.close(code, reason);
      setTimeout(() => {
        if (socket.readyState !== socket.CLOSED) socket.terminate();
      }, CLOSE_GRACE_MS).unref();
    },
  };
}

/**
 * `GET /api/v1/cameras/:id/live` (WebSocket). Protocol: a text `{"type":"init","mime",…}`, a binary
 * init segment (ftyp+moov), then binary fragments (moof+mdat) starting at the latest keyframe. A new
 * init (text + binary) follows a recorder restart; `{"type":"offline"}` when the stream stops;
 * `{"type":"resume","dropped_fragments":n}` before the keyframe at which a backed-up viewer resumes;
 * with `?clock=true`, `{"type":"time","wall_ms","duration_ms"}` before each fragment (the frame clock).
 * Close codes: 1001 Vigil stopping, 4403 access ended (user deleted, disabled or re-scoped, session
 * ended, key revoked: checked every 0.5 s), 4404 camera deleted/disabled, 4408 offline for 30 s.
 */
export const liveRoutes: FastifyPluginAsyncTypebox<{
  live: LiveHub;
  auth: AuthService;
  /** In a cluster: where a camera another node records is watched from (its live view, relayed); undefined: here. */
  relay?: ((cameraId: string, stream: 'main' | 'sub', clock: boolean) => Promise<RelayTarget | undefined>) | undefined;
}> = async (app, { live, auth, relay }) => {
  app.route<{ Params: Static<typeof CameraIdParams>; Querystring: LiveQuery }>({
    method: 'GET',
    url: '/cameras/:id/live',
    config: { access: { cap: 'live', scope: 'camera' }, audit: 'footage.live' },
    schema: {
      tags: ['live'],
      summary: 'Live view over WebSocket: fragmented MP4 for Media Source Extensions.',
      params: CameraIdParams,
      querystring: LiveQuery,
      response: { 400: ErrorRef, 404: ErrorRef, 409: ErrorRef, 426: ErrorRef },
    },
    // Before any upgrade: an unknown camera, a disabled one, or a missing sub-stream get a plain HTTP error.
    preHandler: async (req) => {
      await live.check(req.params.id, req.query.stream ?? 'main');
    },
    handler: async (_req, reply) =>
      reply.code(426).header('upgrade', 'websocket').send({ error: 'invalid_argument', message: 'this route speaks WebSocket only (Upgrade: websocket)' }),
    wsHandler: (socket, req) => {
      const cameraId = req.params.id;
      const stream = req.query.stream ?? 'main';
      let leave: (() => void) | undefined;
      let closed = false;
      let alive = true;
      const ping = setInterval(() => {
        if (!alive) {
          socket.terminate();
          return;
        }
        alive = false;
        socket.ping();
      }, PING_INTERVAL_MS);
      socket.on('pong', () => {
        alive = true;
      });
      const connection = connectionOf(socket, req.query.clock === true);
      const principal = req.principal;
      let checking = false;
      const access = setInterval(() => {
        if (checking || !principal) return;
        checking = true;
        auth
          .recheck(principal)
          .then(
            (now) => {
              if (now && now.capabilities.has('live') && inScope(now.cameras, cameraId)) return;
              clearInterval(access);
              req.log.info({ cameraId, principal: `${principal.kind}:${principal.id}` }, 'live viewer closed: access ended');
              connection.close(LIVE_CLOSE.accessEnded, 'access ended');
            },
            (err: unknown) => req.log.error({ err }, 'live access check failed'),
          )
          .finally(() => {
            checking = false;
          });
      }, ACCESS_RECHECK_MS);
      socket.on('close', () => {
        closed = true;
        clearInterval(ping);
        clearInterval(access);
        leave?.();
      });
      // Viewers have nothing to say; whatever they send is ignored (and bounded by maxPayload).
      socket.on('message', () => undefined);
      // Another node records the camera (cluster): its live view, relayed; else this node's own.
      const where = relay
        ? relay(cameraId, stream, req.query.clock === true).catch((err: unknown) => {
            req.log.error({ err, cameraId }, 'finding the recording node failed; serving the live view here');
            return undefined;
          })
        : Promise.resolve(undefined);
      void where.then((target) => {
        if (closed) return;
        if (target) {
          leave = relayLive(socket, target, req.log);
          return;
        }
        live.join(cameraId, stream, connection).then(
          (remove) => {
            if (closed) remove();
            else leave = remove;
          },
          (err: unknown) => {
            // The camera went away between the check and the upgrade.
            const gone = err instanceof VigilError && (err.kind === 'not_found' || err.kind === 'failed_precondition');
            if (!gone) req.log.error({ err }, 'live join failed');
            socket.close(gone ? LIVE_CLOSE.gone : 1011, errorMessage(err).slice(0, 120));
          },
        );
      });
    },
  });
};
