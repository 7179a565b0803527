/**
 * `npm run torture [-- --full] [--only fuzz,crash,faults,disk,tamper] [--seed N] [--help]`: storms Vigil with faults and
 * proves, with `vigil check` and the database, that nothing was lost, duplicated or leaked. Prints a
 * summary per storm and exits 1 on any violation (2 on a usage error, naming it). The test suite runs the CI-sized storms
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

/** Exit 1 is kept for a violation: usage errors exit 2, `--help` 0. */
function usage(msg: string, code = 2): never {
  (code === 0 ? process.stdout : process.stderr).write(
    `torture: ${msg}\nusage: npm run torture -- [--full] [--only ${Object.keys(STORMS).join(',')}] [--seed N]\n`,
  );
  process.exit(code);
}

function parseCommandLine() {
  try {
    return parseArgs({
      options: { full: { type: 'boolean', default: false }, only: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
      strict: true,
    }).values;
  } catch (err) {
    // node:util names the unknown flag or the missing value ("Unknown option '--x'").
    return usage((err as Error).message);
  }
}

const values = parseCommandLine();
if (values.help) usage('storms Vigil with faults and proves with `vigil check` that nothing was lost, duplicated or leaked; exits 1 on a violation', 0);
const names = (values.only ?? Object.keys(STORMS).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
for (const n of names) {
  if (!STORMS[n]) usage(`unknown storm "${n}" (storms: ${Object.keys(STORMS).join(', ')})`);
}
if (values.seed !== undefined && !/^\d{1,10}$/.test(values.seed)) usage(`--seed must be a non-negative integer, got "${values.seed}"`);
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
