import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { MediaResponse, PlaybackService } from '../../export/playback.service.js';
import { CameraIdParams, ErrorRef } from '../schemas/common.js';
import { SegmentIdParams } from '../schemas/evidence.schemas.js';
import { binaryResponse } from '../schemas/export.schemas.js';
import { MEDIA_HEADERS, PLAYLIST_CONTENT_TYPE, PlaybackQuery } from '../schemas/playback.schemas.js';
import { parseTime } from '../time-params.js';
import { disconnectSignal } from '../disconnect.js';
import { VigilError } from '../../shared/errors.js';

const OpenSegmentParams = Type.Object({
  id: CameraIdParams.properties.id,
  name: Type.String({ pattern: '^[a-z0-9]+-[0-9]{6}$', description: 'The file as the recorder named it: `<run>-<seq>`.' }),
});

export const playbackRoutes: FastifyPluginAsyncTypebox<{ playback: PlaybackService }> = async (app, { playback }) => {
  app.get('/cameras/:id/playback.m3u8', {
    schema: {
      tags: ['playback'],
      summary: 'HLS VOD playlist over the recorded segments overlapping [from, to); no transcoding.',
      description:
        'Each stored fragmented-MP4 file is addressed by byte range: its ftyp+moov as EXT-X-MAP, the rest as one media ' +
        'segment, with EXT-X-PROGRAM-DATE-TIME (its wall-clock start) on every segment and EXT-X-DISCONTINUITY where the ' +
        'next file does not continue the previous one. URIs are relative (`../../segments/<id>/media.mp4`). ' +
        'At most `media.playback_max_seconds` (default 24 h).',
      params: CameraIdParams,
      querystring: PlaybackQuery,
      response: {
        200: binaryResponse(PLAYLIST_CONTENT_TYPE, 'The playlist (RFC 8216, version 7).'),
        400: ErrorRef,
        404: ErrorRef,
      },
    },
    config: { access: { cap: 'playback', scope: 'camera' }, audit: 'footage.playback' },
  }, async (req, reply) => {
    const range = { fromMs: parseTime(req.query.from, 'from'), toMs: parseTime(req.query.to, 'to') };
    const playlist = await playback.playlist(req.params.id, range);
    return reply.type(PLAYLIST_CONTENT_TYPE).header('cache-control', 'private, no-store').send(playlist.text);
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/cameras/:id/open-segments/:name/media.mp4',
    schema: {
      tags: ['playback'],
      summary: 'A file the recorder still writes (or that awaits its catalog row), by byte ranges: the newest footage, reviewable.',
      description:
        'The playlist lists such a file fragment by fragment (its whole fragments so far). `name` is the file as the ' +
        'recorder named it, `<run>-<seq>`. Byte ranges only (a Range header is required), within what is on disk now ' +
        '(416 past it); once the file is indexed the same bytes are served from its segment, read-locked. The range that ' +
        'starts at byte 0 writes one `footage.playback` audit row.',
      params: OpenSegmentParams,
      response: {
        200: binaryResponse('video/mp4', 'HEAD: the file\'s length so far.', MEDIA_HEADERS),
        206: binaryResponse('video/mp4', 'The requested range.', MEDIA_HEADERS),
        400: ErrorRef,
        404: ErrorRef,
        416: ErrorRef,
      },
    },
    config: { access: { cap: 'playback', scope: 'camera' }, audit: 'footage.playback' },
    handler: async (req, reply) => {
      const head = req.method === 'HEAD';
      const media = await playback.openUnindexedMedia(req.params.id, req.params.name, { rangeHeader: req.headers.range, head }, disconnectSignal(reply));
      if (head || media.kind === 'unsatisfiable' || media.range?.start !== 0) req.auditSkip = true;
      return sendMedia(reply, media);
    },
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/segments/:id/media.mp4',
    schema: {
      tags: ['playback'],
      summary: 'A segment\'s stored file, with single byte ranges (206, or 416 past its end); read-locked while it is sent.',
      description:
        'Playback (the `playback` capability) reads the file by byte ranges, as the playlist lists them; the range that ' +
        'starts at byte 0 (the init segment a player fetches first) writes one `footage.playback` audit row per file, ' +
        'later ranges continue that access. The whole file (no Range header, or one range covering it) is a download: ' +
        'it needs the `export` capability and writes a `footage.download` audit row.',
      params: SegmentIdParams,
      response: {
        200: binaryResponse('video/mp4', 'The whole file.', MEDIA_HEADERS),
        206: binaryResponse('video/mp4', 'The requested range.', MEDIA_HEADERS),
        400: ErrorRef,
        403: ErrorRef,
        404: ErrorRef,
        416: ErrorRef,
      },
    },
    config: { access: { cap: 'playback', scope: 'segment' }, audit: 'footage.playback', auditTarget: 'segment' },
    handler: async (req, reply) => {
      const head = req.method === 'HEAD';
      const media = await playback.openMedia(Number(req.params.id), { rangeHeader: req.headers.range, head }, disconnectSignal(reply));
      const whole = media.kind !== 'unsatisfiable' && (media.range === undefined || (media.range.start === 0 && media.range.end === media.totalBytes - 1));
      if (whole && !head) {
        req.auditAction = 'footage.download';
        if (!req.principal?.capabilities.has('export')) {
          media.body?.destroy();
          req.auditOutcome = 'denied';
          throw new VigilError('forbidden', 'downloading a whole segment file needs the "export" capability; playback reads it by byte ranges');
        }
      } else if (head || media.kind === 'unsatisfiable' || media.range?.start !== 0) {
        // A HEAD, a range past the end, or a later range of a file whose first range was audited.
        req.auditSkip = true;
      }
      return sendMedia(reply, media);
    },
  });
};

/** A media response: 206/200 with its bytes (none for HEAD), or 416 naming the file's length. */
export function sendMedia(reply: FastifyReply, media: MediaResponse): FastifyReply {
  reply.header('accept-ranges', 'bytes').header('cache-control', 'private, no-store');
  if (media.kind === 'unsatisfiable') {
    return reply
      .code(416)
      .header('content-range', `bytes */${media.totalBytes}`)
      .send({ error: 'range_not_satisfiable', message: `the range lies past the end of the file (${media.totalBytes} bytes)`, field: 'range' });
  }
  reply.type('video/mp4');
  const { start, end } = media.range ?? { start: 0, end: media.totalBytes - 1 };
  if (media.range) reply.code(206).header('content-range', `bytes ${start}-${end}/${media.totalBytes}`);
  reply.header('content-length', String(end - start + 1));
  return reply.send(media.body);
}
