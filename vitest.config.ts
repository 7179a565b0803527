import { statSync } from 'node:fs';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Longest first, so that the workers finish together: a fresh clone has no timing cache, and vitest
 * would then start the largest files first, which are not the slowest. Recording tests are bound by
 * real time (streams, segment lengths), unit tests by CPU.
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

const STORMS = 'test/torture/**/*.test.ts';

export default defineConfig({
  test: {
    // Integration tests record real RTSP streams with real ffmpeg; give them room.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Two workers for everything but the storms, plus the storms' own: three processes on two cores.
    // Most tests wait on real time (streams, segment lengths), so a third process costs little.
    maxWorkers: 2,
    minWorkers: 1,
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        extends: true,
        // The fault storms load the machine on purpose and judge timing (a disk filling under a
        // retention floor): one after the other in a fork of their own, never two at once.
        test: { name: 'storms', include: [STORMS], poolOptions: { forks: { singleFork: true } } },
      },
      {
        extends: true,
        test: { name: 'main', include: ['src/**/*.test.ts', 'test/**/*.test.ts'], exclude: [...configDefaults.exclude, STORMS] },
      },
    ],
  },
});
