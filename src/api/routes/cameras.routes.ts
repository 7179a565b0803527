import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CameraCreate, CameraPatch } from '../../config/camera.schema.js';
import type { FootageService } from '../../footage/footage.service.js';
import type { LiveStats } from '../../live/live-hub.js';
import type { CameraService } from '../../cameras/camera.service.js';
import { canSee } from '../access.js';
import { cameraOut, statusOut } from '../mappers.js';
import { CameraOut, CameraStatusOut } from '../schemas/camera.schemas.js';
import { CameraIdParams, ErrorRef } from '../schemas/common.js';

export const cameraRoutes: FastifyPluginAsyncTypebox<{
  cameras: CameraService;
  footage: FootageService;
  live?: { stats(cameraId: string): LiveStats };
  /** The ONVIF clock watch's last reading per camera. */
  clocks?: { state(cameraId: string): { driftMs: number; checkedAtMs: number } | undefined };
  /** The running recorder's newest frame and stall (state `stalled`). */
  frames?: { frames(cameraId: string): { lastFrameAtMs: number | undefined; stalled: boolean } | undefined };
  /** The motion detector's state. */
  motion?: { status(cameraId: string): { state: string; error: string | null; lastMotionAtMs: number | null } };
}> = async (app, { cameras, footage, live, clocks, frames, motion }) => {
  const tags = ['cameras'];

  app.get('/cameras', {
    config: { access: { cap: 'cameras.view' } },
    schema: { tags, summary: 'List cameras.', response: { 200: Type.Object({ cameras: Type.Array(CameraOut) }) } },
  }, async (req) => ({ cameras: (await cameras.list()).filter((c) => canSee(req, c.id)).map(cameraOut) }));

  app.post('/cameras', {
    config: { access: { cap: 'cameras.manage', scope: 'all-cameras' }, audit: 'camera.create' },
    schema: {
      tags,
      summary: 'Add a camera; it starts recording at once when enabled.',
      body: CameraCreate,
      response: { 201: CameraOut, 400: ErrorRef, 409: ErrorRef },
    },
  }, async (req, reply) => {
    req.auditTarget = `camera:${req.body.id}`;
    const cam = await cameras.create(req.body, { requestId: req.id });
    return reply.code(201).header('location', `/api/v1/cameras/${cam.id}`).send(cameraOut(cam));
  });

  app.get('/cameras/:id', {
    config: { access: { cap: 'cameras.view', scope: 'camera' } },
    schema: { tags, summary: 'One camera.', params: CameraIdParams, response: { 200: CameraOut, 400: ErrorRef, 404: ErrorRef } },
  }, async (req) => cameraOut(await cameras.get(req.params.id)));

  app.patch('/cameras/:id', {
    config: { access: { cap: 'cameras.manage', scope: 'camera' }, audit: 'camera.update' },
    schema: {
      tags,
      summary: 'Change a camera; its recorder restarts when the URL or segment length changes.',
      params: CameraIdParams,
      body: CameraPatch,
      response: { 200: CameraOut, 400: ErrorRef, 404: ErrorRef },
    },
  }, async (req) => cameraOut(await cameras.update(req.params.id, req.body, { requestId: req.id })));

  app.delete('/cameras/:id', {
    config: { access: { cap: 'cameras.manage', scope: 'camera' }, audit: 'camera.delete' },
    schema: {
      tags,
      summary: 'Delete a camera: recording stops; its footage is kept until retention removes it.',
      params: CameraIdParams,
      response: { 204: Type.Null(), 400: ErrorRef, 404: ErrorRef },
    },
  }, async (req, reply) => {
    await cameras.delete(req.params.id, { requestId: req.id });
    return reply.code(204).send(null);
  });

  app.get('/cameras/:id/status', {
    config: { access: { cap: 'cameras.view', scope: 'camera' } },
    schema: { tags, summary: 'Recorder state and counters.', params: CameraIdParams, response: { 200: CameraStatusOut, 400: ErrorRef, 404: ErrorRef } },
  }, async (req) => {
    const cam = await cameras.get(req.params.id);
    return statusOut(cam, await footage.status(cam.id), live?.stats(cam.id), clocks?.state(cam.id), frames?.frames(cam.id), motion?.status(cam.id));
  });
};
