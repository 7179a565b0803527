import { describe, expect, it } from 'vitest';
import { endToleranceMs, firstFrameFromName, placementMismatch, type PlacedRow } from './placement.js';
import { edgeSegmentFileName, segmentFileName } from './segment-names.js';

const T0 = Date.UTC(2026, 10, 26, 9, 0, 0);
/** 2 s at 15 fps: one frame lasts 66.7 ms. */
const file = { videoDurationSeconds: 2, sampleCount: 30 };
const row = (o: Partial<PlacedRow> & { name: string }): PlacedRow => ({
  cameraId: 'cam1',
  path: `recordings/cam1/${o.name}`,
  startMs: T0,
  endMs: T0 + 2000,
  mediaOffsetMs: 0,
  source: 'live',
  ...o,
});

describe('a row\'s placement of its file', () => {
  it('may end up to one frame (and 1 ms of rounding) past the file\'s last frame, not more', () => {
    expect(endToleranceMs(file)).toBe(68);
    const name = 'legacy.mp4';
    expect(placementMismatch(row({ name, endMs: T0 + 2068 }), file)).toBeUndefined();
    expect(placementMismatch(row({ name, endMs: T0 + 2069 }), file)).toContain('69 ms past its last frame (tolerance 68 ms: one frame)');
    expect(placementMismatch(row({ name, startMs: T0 + 500, endMs: T0 + 2500, mediaOffsetMs: 500 }), file)).toContain('the row claims media 500–2500 ms');
  });

  it('starts inside its file', () => {
    expect(placementMismatch(row({ name: 'legacy.mp4', mediaOffsetMs: -1 }), file)).toContain('media_offset_ms -1 is negative');
    expect(placementMismatch(row({ name: 'legacy.mp4', startMs: T0 + 2000, endMs: T0 + 2100, mediaOffsetMs: 2000 }), file)).toContain('starts past the file\'s last frame');
    expect(placementMismatch(row({ name: 'legacy.mp4', mediaOffsetMs: 0 }), { videoDurationSeconds: 0, sampleCount: 0 })).toContain('starts past');
  });

  it('puts an edge refill\'s first frame exactly at the whole second its name records', () => {
    const name = edgeSegmentFileName(T0, 9, T0 + 60_000);
    expect(firstFrameFromName(name, 'edge')).toEqual({ atMs: T0, withinMs: 0 });
    expect(placementMismatch(row({ name, source: 'edge', startMs: T0 + 400, endMs: T0 + 2000, mediaOffsetMs: 400 }), file)).toBeUndefined();
    expect(placementMismatch(row({ name, source: 'edge', startMs: T0 + 400, endMs: T0 + 2000, mediaOffsetMs: 399 }), file)).toBeUndefined();
    expect(placementMismatch(row({ name, source: 'edge', startMs: T0 + 400, endMs: T0 + 2000, mediaOffsetMs: 398 }), file)).toContain('placed 2 ms later than recorded (media_offset_ms should be 400)');
    expect(placementMismatch(row({ name, source: 'edge', startMs: T0 + 400, endMs: T0 + 1000, mediaOffsetMs: 450 }), file)).toContain('placed 50 ms earlier than recorded');
  });

  it('puts a recorder\'s file\'s first frame inside the second its name records (names are truncated to the second)', () => {
    const name = segmentFileName(T0 + 10_999, 'r1', '000003');
    expect(firstFrameFromName(name, 'live')).toEqual({ atMs: T0 + 10_000, withinMs: 1000 });
    expect(firstFrameFromName(name, 'recovered')).toEqual({ atMs: T0 + 10_000, withinMs: 1000 });
    for (const first of [10_000, 10_999]) expect(placementMismatch(row({ name, startMs: T0 + first, endMs: T0 + first + 2000 }), file)).toBeUndefined();
    expect(placementMismatch(row({ name, startMs: T0 + 11_000, endMs: T0 + 13_000 }), file)).toContain('placed at least 1 ms later than recorded (media_offset_ms should be 1–1000)');
    expect(placementMismatch(row({ name, startMs: T0 + 9_999, endMs: T0 + 11_999 }), file)).toContain('placed at least 1 ms earlier than recorded');
    // Clamped inside the same second with its offset lost: the name cannot tell.
    expect(placementMismatch(row({ name, startMs: T0 + 10_800, endMs: T0 + 12_000 }), file)).toBeUndefined();
  });

  it('reads no instant from names that do not record the first frame\'s', () => {
    // Names of versions before segments were numbered: ffmpeg's clock when it opened the file.
    expect(firstFrameFromName('20261126T090010Z-mfx3k2a.mp4', 'live')).toBeUndefined();
    expect(firstFrameFromName('mfx3k2a-000001.mp4', 'live')).toBeUndefined();
    expect(firstFrameFromName(edgeSegmentFileName(T0, 9, T0), 'live')).toBeUndefined();
    expect(firstFrameFromName(segmentFileName(T0, 'r1', '000001'), 'edge')).toBeUndefined();
  });
});

describe('an edge refill that starts a camera connection (first frame stamped a tick before the second)', () => {
  it('is placed with media time 0 one frame after the named second, and flagged when placed at the second itself', () => {
    const fragments = [{ sampleDurationsSeconds: [1 / 90_000, 1 / 15, 1 / 15, 1 / 15, 1 / 15] }];
    const file = { videoDurationSeconds: 4, sampleCount: 60, fragments };
    const named = Date.UTC(2026, 11, 4, 12, 0, 0);
    const path = `cam1/20261204T120000Z-e7tabc.mp4`;
    const lead = Math.round((1 / 15 - 1 / 90_000) * 1000);
    const zero = named + lead;
    // Gap from named + 300: the row starts there, media_offset_ms counted from media time 0.
    expect(placementMismatch({ cameraId: 'cam1', path, startMs: named + 300, endMs: zero + 3000, mediaOffsetMs: named + 300 - zero, source: 'edge' }, file)).toBeUndefined();
    // Placed as if media time 0 were the named second: one frame early.
    expect(placementMismatch({ cameraId: 'cam1', path, startMs: named + 300, endMs: named + 3000, mediaOffsetMs: 300, source: 'edge' }, file)).toMatch(/placed 67 ms earlier than recorded/);
  });
});
