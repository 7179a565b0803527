import { access } from 'node:fs/promises';
import { verifyBundle } from '../evidence/verify.js';

/**
 * `vigil verify [--fingerprint <hex>] [--json] <bundle.zip>`: exit 0 only when the bundle is valid
 * (docs/evidence.md), 1 when anything was altered (each finding printed), 2 when it cannot be read
 * or the usage is wrong. Needs no config, no database and no network.
 */
export async function verify(file: string, opts: { fingerprint?: string; json?: boolean }): Promise<number> {
  if (opts.fingerprint !== undefined && !/^[0-9a-fA-F]{64}$/.test(opts.fingerprint)) {
    process.stderr.write('vigil: verify: --fingerprint takes the 64 hex characters GET /api/v1/signing-key shows\n');
    return 2;
  }
  try {
    await access(file);
  } catch {
    process.stderr.write(`vigil: verify: cannot read ${file}\n`);
    return 2;
  }
  const r = await verifyBundle(file, { fingerprint: opts.fingerprint });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  } else if (r.valid) {
    process.stdout.write(
      `VALID: ${file}\n  export ${r.exportId ?? '?'}, ${r.files} files, ${r.bytes} bytes\n  signed by key ${r.fingerprint}` +
        `${opts.fingerprint ? ' (the expected one)' : ' (compare it with the fingerprint its operator published, or pass --fingerprint)'}\n`,
    );
  } else {
    process.stdout.write(`INVALID: ${file}\n${r.findings.map((f) => `  - ${f}`).join('\n')}\n`);
  }
  return r.valid ? 0 : 1;
}
