import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { EvidenceService } from '../../footage/evidence.service.js';
import { scopedCameraIds } from '../access.js';
import { incidentOut, rangeHoldOut, segmentOut } from '../mappers.js';
import { CameraIdParams, ErrorRef } from '../schemas/common.js';
import {
  HoldBody,
  IncidentBody,
  IncidentIdParams,
  IncidentOut,
  IncidentSegmentsQuery,
  RangeHoldBody,
  RangeReleaseBody,
  RangeHoldOut,
  SegmentIdParams,
} from '../schemas/evidence.schemas.js';
import { SegmentOut, SegmentPage } from '../schemas/footage.schemas.js';
import { parseTime } from '../time-params.js';

/** `{incident_id?}` bodies are optional: a bare POST or DELETE holds or releases without a tag. */
async function emptyBodyIsEmptyObject(req: FastifyRequest): Promise<void> {
  if (req.body === undefined) req.body = {};
}

export const evidenceRoutes: FastifyPluginAsyncTypebox<{ evidence: EvidenceService }> = async (app, { evidence }) => {
  const tags = ['evidence'];
  const segmentResponses = { 200: SegmentOut, 400: ErrorRef, 404: ErrorRef };
  const rangeResponses = { 200: RangeHoldOut, 400: ErrorRef, 404: ErrorRef };

  app.get('/segments/:id', {
    config: { access: { cap: 'playback', scope: 'segment' } },
    schema: { tags: ['footage'], summary: 'One segment.', params: SegmentIdParams, response: segmentResponses },
  }, async (req) => segmentOut(await evidence.segment(Number(req.params.id))));

  app.post('/segments/:id/evidence-lock', {
    config: { access: { cap: 'evidence', scope: 'segment' }, audit: 'evidence.lock' },
    schema: {
      tags,
      summary: 'Hold a segment as evidence: retention never deletes it. Without incident_id its tag is kept.',
      params: SegmentIdParams,
      body: HoldBody,
      response: segmentResponses,
    },
    preValidation: emptyBodyIsEmptyObject,
  }, async (req) => segmentOut(await evidence.lockSegment(Number(req.params.id), req.body.incident_id, { requestId: req.id })));

  app.delete('/segments/:id/evidence-lock', {
    config: { access: { cap: 'evidence', scope: 'segment' }, audit: 'evidence.unlock' },
    schema: {
      tags,
      summary: 'Release a segment\'s evidence hold; its incident tag is kept (or replaced when incident_id is given).',
      params: SegmentIdParams,
      body: HoldBody,
      response: segmentResponses,
    },
    preValidation: emptyBodyIsEmptyObject,
  }, async (req) => segmentOut(await evidence.unlockSegment(Number(req.params.id), req.body.incident_id, { requestId: req.id })));

  app.patch('/segments/:id/incident', {
    config: { access: { cap: 'evidence', scope: 'segment' }, audit: 'evidence.tag' },
    schema: {
      tags,
      summary: 'Set a segment\'s incident tag, or clear it with null (or ""); the hold is unchanged.',
      params: SegmentIdParams,
      body: IncidentBody,
      response: segmentResponses,
    },
  }, async (req) => segmentOut(await evidence.setIncident(Number(req.params.id), req.body.incident_id, { requestId: req.id })));

  app.post('/cameras/:id/evidence-lock', {
    config: { access: { cap: 'evidence', scope: 'camera' }, audit: 'evidence.lock' },
    schema: {
      tags,
      summary: 'Hold every segment of the camera overlapping [from, to); 200 with segments 0 when there are none.',
      params: CameraIdParams,
      body: RangeHoldBody,
      response: rangeResponses,
    },
  }, async (req) => {
    const { from, to, incident_id } = req.body;
    const hold = await evidence.lockRange(req.params.id, parseTime(from, 'from'), parseTime(to, 'to'), incident_id, { requestId: req.id });
    return rangeHoldOut(hold);
  });

  app.delete('/cameras/:id/evidence-lock', {
    config: { access: { cap: 'evidence', scope: 'camera' }, audit: 'evidence.unlock' },
    schema: {
      tags,
      summary: 'Release every segment of the camera overlapping [from, to); tags are kept. The reason, when given, goes into the audit row.',
      params: CameraIdParams,
      body: RangeReleaseBody,
      response: rangeResponses,
    },
  }, async (req) => {
    const { from, to, incident_id } = req.body;
    const hold = await evidence.unlockRange(req.params.id, parseTime(from, 'from'), parseTime(to, 'to'), incident_id, { requestId: req.id });
    return rangeHoldOut(hold);
  });

  app.get('/incidents', {
    config: { access: { cap: 'evidence' } },
    schema: {
      tags,
      summary: 'Every incident tag in use: segments, bytes, first start, last end, cameras.',
      response: { 200: Type.Object({ incidents: Type.Array(IncidentOut) }) },
    },
  }, async (req) => ({ incidents: (await evidence.incidents(scopedCameraIds(req))).map(incidentOut) }));

  app.get('/incidents/:id/segments', {
    config: { access: { cap: 'evidence' } },
    schema: {
      tags,
      summary: 'Segments tagged with an incident, across cameras, oldest first, paginated.',
      params: IncidentIdParams,
      querystring: IncidentSegmentsQuery,
      response: { 200: SegmentPage, 400: ErrorRef, 404: ErrorRef },
    },
  }, async (req) => {
    const page = await evidence.incidentSegments(req.params.id, req.query.limit ?? 100, req.query.cursor, scopedCameraIds(req));
    return { segments: page.segments.map(segmentOut), next_cursor: page.nextCursor };
  });
};
