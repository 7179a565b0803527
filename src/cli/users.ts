import { buildCore } from '../app.js';
import { AuditLog } from '../auth/audit.js';
import { AuthService } from '../auth/auth.service.js';
import { ROLES, scopeFromJson, scopeOut } from '../auth/capabilities.js';
import { newPassword } from '../auth/secrets.js';
import { loadConfig } from '../config/config.js';
import { CAMERA_ID_PATTERN } from '../config/camera.schema.js';
import { clearLoginFailures } from '../db/auth.repo.js';
import type { Role } from '../db/schema.js';
import { systemClock } from '../shared/clock.js';
import { errorMessage, VigilError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import type { CommonFlags } from './maintenance.js';

export interface UserFlags extends CommonFlags {
  role?: string;
  cameras?: string;
  passwordStdin?: boolean;
}

type Action = 'add' | 'list' | 'passwd' | 'remove' | 'unlock';

/**
 * `vigil users add|list|passwd|remove|unlock`: manage users on the data dir's database directly (works
 * whether or not `vigil serve` runs). A password is read from stdin with --password-stdin, otherwise
 * generated and printed once. Exit 0 on success, 1 when the change is refused, 2 on bad usage.
 */
export async function users(action: Action, username: string | undefined, flags: UserFlags): Promise<number> {
  let config;
  try {
    config = loadConfig({ configPath: flags.config, overrides: { dataDir: flags.data } });
  } catch (err) {
    process.stderr.write(`vigil: ${errorMessage(err)}\n`);
    return 2;
  }
  if (action !== 'list' && !username) return usage('a username is required');
  const role = flags.role;
  if (action === 'add' && (!role || !(ROLES as readonly string[]).includes(role))) return usage(`--role must be one of ${ROLES.join(', ')}`);
  let cameras: 'all' | string[] = 'all';
  if (flags.cameras !== undefined && flags.cameras !== 'all') {
    cameras = flags.cameras.split(',').map((c) => c.trim()).filter((c) => c.length > 0);
    const bad = cameras.find((c) => !new RegExp(CAMERA_ID_PATTERN).test(c));
    if (bad !== undefined || cameras.length === 0) return usage(`--cameras: "${bad ?? ''}" is not a camera id (a comma-separated list, or "all")`);
  }

  const core = await buildCore(config, systemClock, createLogger(process.env['VIGIL_LOG_LEVEL'] || 'warn'));
  const auth = new AuthService({ db: core.db, clock: systemClock, config: config.auth });
  const audit = new AuditLog({ db: core.db, clock: systemClock });
  const record = (a: string, target: string, detail: Record<string, unknown> | null = null) =>
    audit.write({ principal: null, system: true, actorName: 'cli', action: a, target, requestId: null, clientAddr: null, outcome: 'success', statusCode: null, detail });
  try {
    switch (action) {
      case 'list': {
        for (const u of await auth.listUsers()) {
          const scope = scopeOut(scopeFromJson(u.cameras));
          process.stdout.write(`${u.id}\t${u.username}\t${u.role}\t${scope === 'all' ? 'all cameras' : scope.join(',')}${u.disabled ? '\tdisabled' : ''}\n`);
        }
        return 0;
      }
      case 'add': {
        const { password, generated } = await passwordFrom(flags);
        const u = await auth.createUser({ username: username as string, password, role: role as Role, cameras });
        await record('user.create', `user:${u.id}`, { role: u.role, cameras });
        process.stdout.write(`created user "${u.username}" (${u.role})\n`);
        if (generated) process.stdout.write(`password (shown once): ${password}\n`);
        return 0;
      }
      case 'passwd': {
        const u = await auth.userByName(username as string);
        if (!u) throw new VigilError('not_found', `no user "${username}"`);
        const { password, generated } = await passwordFrom(flags);
        await auth.updateUser(u.id, { password });
        await record('user.update', `user:${u.id}`, { fields: ['password'] });
        process.stdout.write(`password of "${u.username}" changed; their sessions ended\n`);
        if (generated) process.stdout.write(`password (shown once): ${password}\n`);
        return 0;
      }
      case 'remove': {
        const u = await auth.userByName(username as string);
        if (!u) throw new VigilError('not_found', `no user "${username}"`);
        await auth.deleteUser(u.id);
        await record('user.delete', `user:${u.id}`);
        process.stdout.write(`removed user "${u.username}"\n`);
        return 0;
      }
      case 'unlock': {
        await clearLoginFailures(core.db, (username as string).toLowerCase());
        await record('user.unlock', `user:${(username as string).toLowerCase()}`);
        process.stdout.write(`sign-in failures of "${username}" forgotten\n`);
        return 0;
      }
    }
  } catch (err) {
    process.stderr.write(`vigil: ${errorMessage(err)}\n`);
    return err instanceof VigilError && err.kind === 'invalid_argument' ? 2 : 1;
  } finally {
    await core.close();
  }
}

function usage(message: string): number {
  process.stderr.write(`vigil: ${message}\n`);
  return 2;
}

async function passwordFrom(flags: UserFlags): Promise<{ password: string; generated: boolean }> {
  if (!flags.passwordStdin) return { password: newPassword(), generated: true };
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  return { password, generated: false };
}
