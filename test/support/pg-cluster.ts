import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Debian's postgresql-15 (scripts/install-deps.sh --test installs it). */
export const PG_BIN = process.env['VIGIL_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';

export interface PgCluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres: the superuser, trusted on loopback. */
  adminUrl: string;
  /** URL of another database of the same cluster. */
  urlOf(database: string): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Runs a PostgreSQL binary as the `postgres` system user when we are root (the server refuses to run as root). */
async function asPostgres(bin: string, args: string[]): Promise<string> {
  const cmd = join(PG_BIN, bin);
  const asRoot = process.getuid?.() === 0;
  const { stdout } = asRoot ? await run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : await run(cmd, args);
  return stdout;
}

async function idOf(flag: '-u' | '-g', user: string): Promise<number> {
  const { stdout } = await run('id', [flag, user]);
  return Number(stdout.trim());
}

/**
 * A throw-away PostgreSQL cluster: `initdb` into a temp folder (owned by `postgres` when we are root),
 * the server on 127.0.0.1 and a free port, its socket in that folder. `durable: false` (tests) turns
 * fsync off; the bench keeps the server's defaults.
 */
export async function startPgCluster(opts: { durable?: boolean } = {}): Promise<PgCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-pg-'));
  if (process.getuid?.() === 0) {
    await chown(dir, await idOf('-u', 'postgres'), await idOf('-g', 'postgres'));
    await chmod(dir, 0o700);
  }
  const data = join(dir, 'data');
  await asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--locale=C', '-E', 'UTF8', ...(opts.durable ? [] : ['--no-sync'])]);
  const port = await freePort();
  const settings = [
    '-c listen_addresses=127.0.0.1',
    `-p ${port}`,
    `-k ${dir}`,
    '-c max_connections=200',
    ...(opts.durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
  ].join(' ');
  await asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', settings, '-w', '-t', '60', 'start']);
  const urlOf = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    adminUrl: urlOf('postgres'),
    urlOf,
    stop: async () => {
      await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
