/**
 * `npm run torture [-- --full] [--only fuzz,crash,faults,disk,tamper] [--seed N]`: storms Vigil with faults and
 * proves, with `vigil check` and the database, that nothing was lost, duplicated or leaked. Prints a
 * summary per storm and exits 1 on any violation. The test suite runs the CI-sized storms
 * (test/torture/*.test.ts); `--full` runs the full sizes.
 */
import { parseArgs } from 'node:util';
import { runApiFuzz } from './api-fuzz.js';
import { runCameraFaults } from './camera-faults.js';
import { runCrashStorm } from './crash-storm.js';
import { runDiskFull } from './disk-full.js';
import { printStorm, type StormOptions, type StormResult } from './storm.js';
import { runTamperStorm } from './tamper.js';

const STORMS: Record<string, (o: StormOptions & { seed?: number }) => Promise<StormResult>> = {
  fuzz: runApiFuzz,
  crash: runCrashStorm,
  faults: runCameraFaults,
  disk: runDiskFull,
  tamper: runTamperStorm,
};

const { values } = parseArgs({
  options: { full: { type: 'boolean', default: false }, only: { type: 'string' }, seed: { type: 'string' } },
});
const names = (values.only ?? Object.keys(STORMS).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
for (const n of names) {
  if (!STORMS[n]) {
    process.stderr.write(`torture: unknown storm "${n}" (storms: ${Object.keys(STORMS).join(', ')})\n`);
    process.exit(2);
  }
}
if (values.seed !== undefined && !/^\d{1,10}$/.test(values.seed)) {
  process.stderr.write(`torture: --seed must be a non-negative integer, got "${values.seed}"\n`);
  process.exit(2);
}
const log = (line: string) => process.stderr.write(`${line}\n`);
const size = values.full ? 'full' : 'ci';
process.stdout.write(`Vigil torture — ${new Date().toISOString()} — size ${size}\n`);
let failed = false;
for (const n of names) {
  const started = Date.now();
  let result: StormResult;
  try {
    result = await (STORMS[n] as (typeof STORMS)[string])({ size, log, ...(values.seed ? { seed: Number(values.seed) } : {}) });
  } catch (err) {
    result = { name: n, summary: [], violations: [`the storm could not run: ${(err as Error).stack ?? String(err)}`] };
  }
  result.summary.push(['duration', `${((Date.now() - started) / 1000).toFixed(0)} s`]);
  printStorm(result);
  if (result.violations.length > 0) failed = true;
}
process.exit(failed ? 1 : 0);
