import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { querySql } from '../support/footage.js';
import { removeDir, tempDir } from '../support/harness.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function vigil(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, VIGIL_LOG_LEVEL: 'silent' } }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin?.end(stdin ?? '');
  });
}

describe('vigil users', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await tempDir();
  });
  afterAll(async () => removeDir(dataDir));

  it('adds, lists, re-passwords, unlocks and removes users; never prints a password it did not generate', async () => {
    const added = await vigil(['users', 'add', 'Alice', '--role', 'operator', '--cameras', 'front,yard', '--password-stdin', '--data', dataDir], 'alice-password-1\n');
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain('created user "alice" (operator)');
    expect(added.stdout).not.toContain('alice-password-1');
    const generated = await vigil(['users', 'add', 'root', '--role', 'admin', '--data', dataDir]);
    expect(generated.code, generated.stderr).toBe(0);
    const password = /password \(shown once\): (\S+)/.exec(generated.stdout)?.[1] ?? '';
    expect(password.length).toBeGreaterThanOrEqual(20);

    const list = await vigil(['users', 'list', '--data', dataDir]);
    expect(list.stdout).toMatch(/alice\toperator\tfront,yard/);
    expect(list.stdout).toMatch(/root\tadmin\tall cameras/);

    const rows = querySql(dataDir, 'SELECT username, password_hash FROM users ORDER BY id') as Array<{ username: string; password_hash: string }>;
    expect(rows.map((r) => r.username)).toEqual(['alice', 'root']);
    expect(rows.every((r) => r.password_hash.startsWith('$argon2id$'))).toBe(true);
    const before = rows[0]?.password_hash;
    expect((await vigil(['users', 'passwd', 'alice', '--password-stdin', '--data', dataDir], 'alice-password-2\n')).code).toBe(0);
    expect((querySql(dataDir, "SELECT password_hash FROM users WHERE username = 'alice'") as Array<{ password_hash: string }>)[0]?.password_hash).not.toBe(before);

    querySql(dataDir, "INSERT INTO login_failures VALUES ('alice', 0, 0, 9999999999999)", { write: true });
    expect((await vigil(['users', 'unlock', 'alice', '--data', dataDir])).code).toBe(0);
    expect(querySql(dataDir, 'SELECT * FROM login_failures')).toEqual([]);

    expect((await vigil(['users', 'remove', 'root', '--data', dataDir])).code).toBe(1); // the last admin
    expect((await vigil(['users', 'remove', 'alice', '--data', dataDir])).code).toBe(0);
    const audit = querySql(dataDir, "SELECT action, actor_kind, actor_name FROM audit_log ORDER BY id") as Array<{ action: string; actor_kind: string }>;
    expect(audit.map((a) => a.action)).toEqual(['user.create', 'user.create', 'user.update', 'user.unlock', 'user.delete']);
    expect(audit.every((a) => a.actor_kind === 'system')).toBe(true);
    expect(JSON.stringify(audit)).not.toContain('alice-password');
  });

  it('refuses bad usage with exit 2 and changes nothing', async () => {
    const n = () => (querySql(dataDir, 'SELECT count(*) AS n FROM users') as Array<{ n: number }>)[0]?.n;
    const before = n();
    // Independent refusals: run at once (each is a whole Node start-up).
    const codes = await Promise.all([
      vigil(['users', 'add', 'bob', '--role', 'root', '--data', dataDir]),
      vigil(['users', 'add', 'bob', '--role', 'viewer', '--cameras', '../x', '--data', dataDir]),
      vigil(['users', 'add', 'bob', '--role', 'viewer', '--password-stdin', '--data', dataDir], 'short\n'),
      vigil(['users', 'fly', '--data', dataDir]),
    ]);
    expect(codes.map((r) => r.code)).toEqual([2, 2, 2, 2]);
    expect(n()).toBe(before);
  });
});
