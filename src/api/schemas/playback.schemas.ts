import { Type, type Static } from '@sinclair/typebox';
import { IsoTime } from './common.js';

export const PlaybackQuery = Type.Object(
  { from: IsoTime, to: IsoTime },
  { additionalProperties: false },
);
export type PlaybackQuery = Static<typeof PlaybackQuery>;

export const PLAYLIST_CONTENT_TYPE = 'application/vnd.apple.mpegurl';

export const MEDIA_HEADERS = {
  'Accept-Ranges': { type: 'string', description: 'bytes' },
  'Content-Range': { type: 'string', description: '206: `bytes <first>-<last>/<size>`; 416: `bytes */<size>`.' },
};
