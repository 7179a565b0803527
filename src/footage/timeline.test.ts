import { describe, expect, it } from 'vitest';
import { mergeSpans, SPAN_MERGE_MS } from './timeline.js';

describe('mergeSpans', () => {
  it('merges neighbours up to 2000 ms apart into one span and counts their segments', () => {
    const spans = mergeSpans(
      [
        [0, 10_000],
        [10_000, 20_000], // contiguous
        [21_000, 30_000], // 1 s hole
        [32_000, 40_000], // exactly 2 s hole
      ],
      0,
      100_000,
    );
    expect(SPAN_MERGE_MS).toBe(2000);
    expect(spans).toEqual([{ startMs: 0, endMs: 40_000, segments: 4 }]);
  });

  it('keeps a 3 s hole as two spans', () => {
    expect(
      mergeSpans(
        [
          [0, 10_000],
          [13_000, 20_000],
          [20_500, 25_000],
        ],
        0,
        100_000,
      ),
    ).toEqual([
      { startMs: 0, endMs: 10_000, segments: 1 },
      { startMs: 13_000, endMs: 25_000, segments: 2 },
    ]);
  });

  it('a hole of 2001 ms splits', () => {
    expect(mergeSpans([[0, 1000], [3001, 4000]], 0, 10_000)).toHaveLength(2);
  });

  it('clips spans to [from, to] and drops segments wholly outside', () => {
    const spans = mergeSpans(
      [
        [0, 5_000], // wholly before
        [5_000, 15_000], // straddles from
        [15_000, 25_000],
        [30_000, 45_000], // straddles to
        [45_000, 50_000], // wholly after
      ],
      10_000,
      40_000,
    );
    expect(spans).toEqual([
      { startMs: 10_000, endMs: 25_000, segments: 2 },
      { startMs: 30_000, endMs: 40_000, segments: 1 },
    ]);
  });

  it('drops a segment that only touches the range edge', () => {
    expect(mergeSpans([[0, 10_000], [20_000, 30_000]], 10_000, 20_000)).toEqual([]);
  });

  it('honours a custom merge distance', () => {
    expect(mergeSpans([[0, 1000], [6000, 7000]], 0, 10_000, 5000)).toEqual([{ startMs: 0, endMs: 7000, segments: 2 }]);
  });

  it('returns nothing for no segments', () => {
    expect(mergeSpans([], 0, 1000)).toEqual([]);
  });
});
