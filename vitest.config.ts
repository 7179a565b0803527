import { statSync } from 'node:fs';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/** Workers: most tests wait on real time (streams, segment lengths), so three fit on two cores. */
const WORKERS = 3;

/**
 * Rough seconds a file takes, by kind (measured: `docs/proof.md`, "The test suite"). Only the order
 * depends on them: a wrong estimate costs time, never a result.
 */
const ESTIMATE: Array<[RegExp, number]> = [
  [/test\/torture\/(camera-faults|crash-storm)\.test\.ts$/, 85],
  [/test\/torture\/disk-full\.test\.ts$/, 60],
  [/test\/torture\/tamper\.test\.ts$/, 15],
  [/test\/torture\//, 25],
  [/test\/integration\/time-truth\.test\.ts$/, 60],
  [/test\/integration\/cluster\.pg\.test\.ts$/, 120],
  [/test\/integration\/time-jump\.test\.ts$/, 35],
  [/test\/integration\/(sighup|service)\.test\.ts$/, 35],
  [/test\/integration\/anr-partial\.test\.ts$/, 30],
  [/test\/integration\/mqtt\.test\.ts$/, 55],
  [/test\/integration\/quick-probe\.test\.ts$/, 55],
  [/test\/integration\/backup\.test\.ts$/, 35],
  [/test\/integration\/(anr|anr-edge-stall|anr-crash|live|live-stall|outage|crash)\.test\.ts$/, 45],
  [/test\/integration\//, 18],
  [/test\/ui\/(console-transport|console-views)\.test\.ts$/, 90],
  [/test\/ui\/(console-cases|a11y)\.test\.ts$/, 50],
  [/test\/ui\/(console-trust|console-review)\.test\.ts$/, 60],
  [/test\/ui\//, 25],
  [/src\/demo\//, 75],
];
const estimate = (f: TestSpecification) => ESTIMATE.find(([re]) => re.test(f.moduleId))?.[1] ?? 2;
/** Every storm, the tamper storm too: its hashing and signing load both cores, which a fault storm's timing would feel. */
const isStorm = (f: TestSpecification) => /test\/torture\//.test(f.moduleId);

/**
 * Longest first, so that the workers finish together (a fresh clone has no timing cache); and the
 * fault storms, which load the machine on purpose and judge timing (a disk filling under a retention
 * floor), placed so that one starts only when the one before it should have ended: never two at once.
 */
class LongestFirstStormsApart extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const bySize = (a: TestSpecification, b: TestSpecification) => estimate(b) - estimate(a) || statSync(b.moduleId).size - statSync(a.moduleId).size;
    const storms = files.filter(isStorm).sort(bySize);
    const rest = files.filter((f) => !isStorm(f)).sort(bySize);
    // Simulate the workers taking files in order; hand out the next storm once the last one is done.
    const free = Array.from({ length: WORKERS }, () => 0);
    const order: TestSpecification[] = [];
    let stormEnds = 0;
    while (storms.length + rest.length > 0) {
      const at = Math.min(...free);
      const w = free.indexOf(at);
      const next = storms.length > 0 && (at >= stormEnds || rest.length === 0) ? storms.shift() : rest.shift();
      if (!next) break;
      free[w] = at + estimate(next);
      if (isStorm(next)) stormEnds = free[w] as number;
      order.push(next);
    }
    return order;
  }
}

/**
 * The catalog's repository and service suites, run a second time on PostgreSQL (docs/design.md,
 * "Catalog engines"): not the ffmpeg-heavy integration suites. backup.service is SQLite's online backup;
 * indexer.service holds a SQLite write lock from a second connection to prove SQLITE_BUSY handling.
 */
/** Suites of PostgreSQL alone (the copy from SQLite, `vigil migrate`, the baseline against the SQLite schema): `*.pg.test.ts`. */
const POSTGRES_ONLY_SUITES = ['src/**/*.pg.test.ts', 'test/**/*.pg.test.ts'];
const CATALOG_SUITES = ['src/db/**/*.test.ts', 'src/**/*.service.test.ts', 'src/evidence/signing-key.test.ts'];
const SQLITE_ONLY_SUITES = ['src/backup/backup.service.test.ts', 'src/indexer/indexer.service.test.ts'];

export default defineConfig({
  test: {
    // Integration tests record real RTSP streams with real ffmpeg; give them room.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    maxWorkers: WORKERS,
    minWorkers: 1,
    sequence: { sequencer: LongestFirstStormsApart },
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['src/**/*.test.ts', 'test/**/*.test.ts'], exclude: POSTGRES_ONLY_SUITES } },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: [...CATALOG_SUITES, ...POSTGRES_ONLY_SUITES],
          exclude: SQLITE_ONLY_SUITES,
          // One cluster per run (started only when a postgres suite runs), one database per file.
          globalSetup: ['test/support/pg-global-setup.ts'],
          setupFiles: ['test/support/pg-per-file.ts'],
        },
      },
    ],
  },
});
