import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CameraCreate, CameraPatch } from '../../config/camera.schema.js';
import type { FootageService } from '../../indexer/footage.service.js';
import type { CameraService } from '../../recorder/camera.service.js';
import { cameraOut, statusOut } from '../mappers.js';
import { CameraOut, CameraStatusOut } from '../schemas/camera.schemas.js';
import { CameraIdParams, ErrorRef } from '../schemas/common.js';

export const cameraRoutes: FastifyPluginAsyncTypebox<{ cameras: CameraService; footage: FootageService }> = async (
  app,
  { cameras, footage },
) => {
  const tags = ['cameras'];

  app.get('/cameras', {
    schema: { tags, summary: 'List cameras.', response: { 200: Type.Object({ cameras: Type.Array(CameraOut) }) } },
  }, async () => ({ cameras: (await cameras.list()).map(cameraOut) }));

  app.post('/cameras', {
    schema: {
      tags,
      summary: 'Add a camera; it starts recording at once when enabled.',
      body: CameraCreate,
      response: { 201: CameraOut, 400: ErrorRef, 409: ErrorRef },
    },
  }, async (req, reply) => {
    const cam = await cameras.create(req.body, { requestId: req.id });
    return reply.code(201).header('location', `/api/v1/cameras/${cam.id}`).send(cameraOut(cam));
  });

  app.get('/cameras/:id', {
    schema: { tags, summary: 'One camera.', params: CameraIdParams, response: { 200: CameraOut, 400: ErrorRef, 404: ErrorRef } },
  }, async (req) => cameraOut(await cameras.get(req.params.id)));

  app.patch('/cameras/:id', {
    schema: {
      tags,
      summary: 'Change a camera; its recorder restarts when the URL or segment length changes.',
      params: CameraIdParams,
      body: CameraPatch,
      response: { 200: CameraOut, 400: ErrorRef, 404: ErrorRef },
    },
  }, async (req) => cameraOut(await cameras.update(req.params.id, req.body, { requestId: req.id })));

  app.delete('/cameras/:id', {
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
    schema: { tags, summary: 'Recorder state and counters.', params: CameraIdParams, response: { 200: CameraStatusOut, 400: ErrorRef, 404: ErrorRef } },
  }, async (req) => {
    const cam = await cameras.get(req.params.id);
    return statusOut(cam, await footage.status(cam.id));
  });
};
