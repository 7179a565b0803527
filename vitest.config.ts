import { statSync } from 'node:fs';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * Longest first, so that two workers finish together: a fresh clone has no timing cache, and vitest
 * would then start the largest files first, which are not the slowest. Storms and recording tests are
 * bound by real time (streams, segment lengths), unit tests by CPU.
 */
const WEIGHT: Array<[RegExp, number]> = [
  [/test\/torture\//, 3],
  [/test\/integration\/(anr|anr-edge-stall|anr-crash|live|live-stall|outage|crash)\.test\.ts$/, 3],
  [/test\/integration\//, 2],
  [/test\/ui\//, 2],
  [/src\/demo\//, 2],
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const weight = (f: TestSpecification) => WEIGHT.find(([re]) => re.test(f.moduleId))?.[1] ?? 1;
    const size = (f: TestSpecification) => statSync(f.moduleId).size;
    return [...files].sort((a, b) => weight(b) - weight(a) || size(b) - size(a));
  }
}

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Integration tests record real RTSP streams with real ffmpeg; give them room.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    maxWorkers: 3,
    minWorkers: 1,
    sequence: { sequencer: LongestFirst },
  },
});
