import type { FastifyReply } from 'fastify';
import { VigilError } from '../shared/errors.js';

/** Aborts when the connection closes before the response was completely sent (the client went away). */
export function disconnectSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const res = reply.raw;
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new VigilError('unavailable', 'the client went away'));
  };
  if (res.destroyed) onClose();
  else res.once('close', onClose);
  return controller.signal;
}
