import { onTestFailed } from 'vitest';
import type { TestVigil } from './harness.js';

/**
 * Called inside a test: if that test fails, its Vigil's log lines that contain `match` (all lines when
 * not given), the last `tailBytes` of them, go to stderr. A CI run keeps nothing else of a failure
 * that only happens there.
 */
export function printLogIfFailed(vigil: TestVigil, match?: string, tailBytes = 32_000): void {
  onTestFailed(() => {
    const lines = vigil.logs().split('\n').filter((l) => match === undefined || l.includes(match));
    process.stderr.write(`--- Vigil's log${match === undefined ? '' : ` (lines with ${JSON.stringify(match)})`}, last ${tailBytes} bytes:\n${lines.join('\n').slice(-tailBytes)}\n---\n`);
  });
}
