import { createReadStream } from 'node:fs';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { ExportJob } from '../../db/export.repo.js';
import type { ExportService } from '../../evidence/export.service.js';
import type { SigningKey } from '../../evidence/signing-key.js';
import { notFound } from '../../shared/errors.js';
import { toIso, toIsoOrNull } from '../../shared/time.js';
import { canSee } from '../access.js';
import { binaryResponse } from '../schemas/export.schemas.js';
import { ErrorRef } from '../schemas/common.js';
import { ExportCreateBody, ExportIdParams, ExportOut, ExportPage, ExportsQuery, NoQuery, SigningKeyOut } from '../schemas/exports.schemas.js';
import { parseTime } from '../time-params.js';
import { IncidentIdParams } from '../schemas/evidence.schemas.js';


export const exportOut = (e: ExportJob) => ({
  id: e.id,
  state: e.state,
  camera_ids: e.cameraIds,
  from: toIso(e.fromMs),
  to: toIso(e.toMs),
  incident_id: e.incidentId,
  reason: e.reason,
  include_segments: e.includeSegments,
  requested_by: e.requestedBy,
  request_id: e.requestId,
  progress: e.progress,
  size_bytes: e.sizeBytes,
  sha256: e.sha256,
  manifest_sha256: e.manifestSha256,
  error: e.error,
  attempts: e.attempts,
  created_at: toIso(e.createdAtMs),
  started_at: toIsoOrNull(e.startedAtMs),
  finished_at: toIsoOrNull(e.finishedAtMs),
  deleted_at: toIsoOrNull(e.deletedAtMs),
  bundle_url: e.state === 'done' ? `/api/v1/exports/${e.id}/bundle.zip` : null,
});

/** An export is visible to whoever may see every camera in it; to others it does not exist. */
const visibleTo = (req: FastifyRequest) => (e: ExportJob) => e.cameraIds.every((id) => canSee(req, id));

export const exportJobRoutes: FastifyPluginAsyncTypebox<{ exports: ExportService; signingKey: SigningKey }> = async (app, { exports, signingKey }) => {
  const tags = ['evidence'];
  const one = async (req: FastifyRequest, id: string) => {
    const job = await exports.get(id);
    if (!visibleTo(req)(job)) {
      req.auditOutcome = 'denied';
      throw notFound(`export "${id}" not found`, 'id');
    }
    return job;
  };

  app.post('/exports', {
    config: { access: { cap: 'export' }, audit: 'footage.export_bundle' },
    schema: {
      tags,
      summary: 'Start an evidence export: a signed bundle of the range for each camera, built in the background.',
      description: 'Answers 202 at once with the job; poll GET /exports/:id until `state` is done, then download `bundle_url`. See docs/evidence.md.',
      body: ExportCreateBody,
      response: { 202: ExportOut, 400: ErrorRef, 404: ErrorRef },
    },
  }, async (req, reply) => {
    const b = req.body;
    for (const [i, id] of b.camera_ids.entries()) {
      if (!canSee(req, id)) {
        req.auditOutcome = 'denied';
        throw notFound(`camera "${id}" not found`, `camera_ids[${i}]`);
      }
    }
    const job = await exports.create({
      cameraIds: b.camera_ids,
      fromMs: parseTime(b.from, 'from'),
      toMs: parseTime(b.to, 'to'),
      incidentId: b.incident_id ?? null,
      reason: b.reason,
      includeSegments: b.include_segments ?? false,
      requestedBy: req.principal?.name ?? 'anonymous',
      requestId: req.id,
    });
    req.auditTarget = `export:${job.id}`;
    return reply.code(202).send(exportOut(job));
  });

  app.get('/exports', {
    config: { access: { cap: 'export' } },
    schema: { tags, summary: 'Export jobs, newest first (only those whose cameras are all in your scope).', querystring: ExportsQuery, response: { 200: ExportPage, 400: ErrorRef } },
  }, async (req) => {
    const page = await exports.list({ limit: req.query.limit ?? 100, cursor: req.query.cursor, incidentId: req.query.incident_id }, visibleTo(req));
    return { exports: page.exports.map(exportOut), next_cursor: page.nextCursor };
  });

  app.get('/exports/:id', {
    config: { access: { cap: 'export' } },
    schema: { tags, summary: 'One export job: state, progress, size, error.', params: ExportIdParams, response: { 200: ExportOut, 404: ErrorRef } },
  }, async (req) => exportOut(await one(req, req.params.id)));

  app.get('/exports/:id/bundle.zip', {
    config: { access: { cap: 'export' }, audit: 'footage.export_download', auditTarget: 'export' },
    schema: {
      tags,
      summary: 'The finished bundle (zip). 409 while it is being built or after it failed or was deleted.',
      params: ExportIdParams,
      response: { 200: binaryResponse('application/zip', 'The bundle.', {}), 404: ErrorRef, 409: ErrorRef },
    },
  }, async (req, reply) => {
    await one(req, req.params.id);
    const { path, job } = await exports.bundlePath(req.params.id);
    const size = await exports.fileSize(job.id);
    if (size === undefined) throw notFound(`export ${job.id}'s bundle file is missing`, 'id');
    return reply
      .type('application/zip')
      .header('content-length', String(size))
      .header('content-disposition', `attachment; filename="vigil-${job.id}.zip"`)
      .header('x-vigil-bundle-sha256', job.sha256 ?? '')
      .header('cache-control', 'private, no-store')
      .send(createReadStream(path));
  });

  app.delete('/exports/:id', {
    config: { access: { cap: 'export' }, audit: 'export.delete', auditTarget: 'export' },
    schema: { tags, summary: 'Delete an export\'s bundle file (the job\'s record stays, marked deleted).', params: ExportIdParams, response: { 200: ExportOut, 404: ErrorRef, 409: ErrorRef } },
  }, async (req) => {
    await one(req, req.params.id);
    return exportOut(await exports.delete(req.params.id, req.id, req.principal?.name ?? 'anonymous'));
  });

  app.get('/incidents/:id/report.html', {
    // The report quotes the audit log (who looked at what): it needs the audit capability and every camera.
    config: { access: { cap: 'audit.view', scope: 'all-cameras' }, audit: 'incident.report', auditTarget: 'incident' },
    schema: {
      tags,
      summary: "An incident's chain of custody as a printable page: holds, exports with their hashes, every access to its footage, gaps.",
      params: IncidentIdParams,
      response: { 200: { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } }, 404: ErrorRef },
    },
  }, async (req, reply) => {
    const html = await exports.incidentReport(req.params.id, req.principal?.name ?? 'anonymous');
    return reply
      .type('text/html; charset=utf-8')
      // No script at all; the inline styles are the page's own.
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
      .header('cache-control', 'private, no-store')
      .send(html);
  });

  const keyOut = async () => {
    const keys = await signingKey.keys();
    const current = keys.find((k) => k.retiredAtMs === null);
    return {
      algorithm: 'Ed25519' as const,
      fingerprint: signingKey.fingerprint,
      public_key_pem: signingKey.publicKeyPem,
      created_at: toIso(current?.createdAtMs ?? 0),
      retired: keys
        .filter((k) => k.retiredAtMs !== null)
        .map((k) => ({ fingerprint: k.fingerprint, public_key_pem: k.publicKeyPem, created_at: toIso(k.createdAtMs), retired_at: toIso(k.retiredAtMs!) })),
    };
  };

  app.get('/signing-key', {
    config: { access: { cap: 'authenticated' } },
    schema: { tags, summary: 'The public key that signs bundles and chain links, its fingerprint, and every retired key.', response: { 200: SigningKeyOut } },
  }, keyOut);

  app.post('/signing-key/rotate', {
    config: { access: { cap: 'signing_key.manage' }, audit: 'signing_key.rotate' },
    schema: {
      tags,
      summary: 'Replace the signing key. The old public key stays listed (retired), so what it signed stays verifiable.',
      querystring: NoQuery,
      response: { 200: SigningKeyOut, 400: ErrorRef, 403: ErrorRef },
    },
  }, async (req) => {
    const before = signingKey.fingerprint;
    await signingKey.rotate();
    req.auditTarget = `signing_key:${signingKey.fingerprint}`;
    req.log.info({ before, after: signingKey.fingerprint }, 'signing key rotated');
    return keyOut();
  });
};


