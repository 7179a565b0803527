#!/usr/bin/env -S node --max-semi-space-size=2 --single-threaded-gc
import { Command, Option } from 'commander';
import { VIGIL_VERSION } from '../shared/version.js';
import type { UserFlags } from './users.js';

// Each command loads its own modules when it runs: `vigil verify` on a court's laptop does not load
// the HTTP server, the recorder and the catalog engine.

const VERSION = VIGIL_VERSION;

const program = new Command()
  .name('vigil')
  .description('Vigil — an open-source network video recorder.')
  .version(VERSION)
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(`vigil: ${str}`) })
  // Usage errors (unknown command or option, missing value) exit 2, like the commands' own usage errors.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

program
  .command('serve')
  .description('Record every enabled camera and serve the HTTP API (demo cameras when none is configured).')
  .addOption(new Option('-c, --config <file>', 'YAML config file (default ./vigil.yml when present)'))
  .addOption(new Option('-d, --data <dir>', 'data directory (env VIGIL_DATA_DIR, default ./vigil-data)'))
  .addOption(new Option('-l, --listen <host:port>', 'HTTP address (env VIGIL_LISTEN, default 127.0.0.1:8080)'))
  .action(async (opts: { config?: string; data?: string; listen?: string }) => {
    process.exitCode = await (await import('./serve.js')).serve(opts);
  });

program
  .command('check')
  .description('Check that the catalog and the recordings agree (rows ↔ files, sizes, placements, overlaps, locks); exit 1 on problems.')
  .addOption(new Option('-c, --config <file>', 'YAML config file'))
  .addOption(new Option('-d, --data <dir>', 'data directory'))
  .option('--repair', 'fix what is safe: finish interrupted deletions, index crash-left files, clear stale locks (offline), drop rows whose file is gone (never evidence)')
  .option('--deep', 're-hash every segment file and verify every camera\'s signed hash chain; names each segment whose bytes or row changed')
  .action(async (opts: { config?: string; data?: string; repair?: boolean; deep?: boolean }) => {
    process.exitCode = await (await import('./maintenance.js')).check(opts);
  });

program
  .command('backup')
  .description('Copy the catalog (online, while Vigil records), the config and the signing key to DIR/vigil-<UTC stamp>/ with a manifest of hashes.')
  .requiredOption('--to <dir>', 'folder that receives the backup')
  .addOption(new Option('-c, --config <file>', 'YAML config file'))
  .addOption(new Option('-d, --data <dir>', 'data directory'))
  .action(async (opts: { to: string; config?: string; data?: string }) => {
    process.exitCode = await (await import('./backup.js')).backup(opts);
  });

program
  .command('restore')
  .description('Put a backup\'s catalog into a stopped data dir (the current one is moved aside, never deleted), then reconcile rows with the files there now.')
  .requiredOption('--from <dir>', 'the backup folder (DIR/vigil-<stamp>)')
  .addOption(new Option('-c, --config <file>', 'YAML config file'))
  .addOption(new Option('-d, --data <dir>', 'data directory'))
  .action(async (opts: { from: string; config?: string; data?: string }) => {
    process.exitCode = await (await import('./backup.js')).restore(opts);
  });

program
  .command('retention')
  .description('Run one retention sweep now (age, per-camera quota, global cap, free-disk floor).')
  .addOption(new Option('-c, --config <file>', 'YAML config file'))
  .addOption(new Option('-d, --data <dir>', 'data directory'))
  .option('--dry-run', 'report what would be deleted; delete nothing')
  .option('--run', 'delete')
  .action(async (opts: { config?: string; data?: string; dryRun?: boolean; run?: boolean }) => {
    process.exitCode = await (await import('./maintenance.js')).retention(opts);
  });

program
  .command('migrate')
  .description('Apply the catalog\'s pending migrations (the SQLite file in the data dir, or the PostgreSQL catalog of catalog.url / VIGIL_CATALOG_URL); exit 1 if one fails.')
  .addOption(new Option('-c, --config <file>', 'YAML config file'))
  .addOption(new Option('-d, --data <dir>', 'data directory'))
  .action(async (opts: { config?: string; data?: string }) => {
    process.exitCode = await (await import('./catalog.js')).migrateCommand(opts);
  });

program
  .command('catalog')
  .description('Catalog engines.')
  .command('copy')
  .description('Copy a SQLite catalog into an empty PostgreSQL one: every table, ids and sequences kept, counts verified (exit 0 copied, 1 failed: nothing committed, 2 usage, 3 target not empty).')
  .requiredOption('--from <sqlite:file>', 'the SQLite catalog, e.g. sqlite:/var/lib/vigil/vigil.db')
  .requiredOption('--to <url>', 'the PostgreSQL catalog, postgres://user@host/db (its schema is created by the copy)')
  .action(async (opts: { from: string; to: string }) => {
    process.exitCode = await (await import('./catalog.js')).catalogCopy(opts);
  });

program
  .command('node')
  .description('Cluster nodes on the PostgreSQL catalog: list; drain <node> (hand its cameras to the others; --wait N seconds for it); resume <node>; pin <camera> <node>; unpin <camera>; adopt <node> (footage a single Vigil recorded before its catalog was copied into the cluster\'s is that node\'s).')
  .argument('<action>', 'list | drain | resume | pin | unpin | adopt')
  .argument('[args...]')
  .addOption(new Option('-c, --config <file>', 'YAML config file'))
  .addOption(new Option('-d, --data <dir>', 'data directory'))
  .option('--wait <seconds>', 'drain: wait until the node holds no camera (exit 1 if it still does then)')
  .option('--json', 'list: JSON')
  .action(async (action: string, args: string[], opts: { config?: string; data?: string; wait?: string; json?: boolean }) => {
    process.exitCode = await (await import('./node.js')).nodeCommand(action, args, opts);
  });

program
  .command('users')
  .description('Manage users: add, list, passwd (new password), remove, unlock (forget failed sign-ins).')
  .argument('<action>', 'add | list | passwd | remove | unlock')
  .argument('[username]')
  .addOption(new Option('-c, --config <file>', 'YAML config file'))
  .addOption(new Option('-d, --data <dir>', 'data directory'))
  .addOption(new Option('-r, --role <role>', 'role of a new user').choices(['admin', 'operator', 'viewer']))
  .option('--cameras <ids>', 'comma-separated camera ids the user may see (default: all)')
  .option('--password-stdin', 'read the password from the first line of stdin (otherwise one is generated and printed once)')
  .action(async (action: string, username: string | undefined, opts: UserFlags) => {
    if (!['add', 'list', 'passwd', 'remove', 'unlock'].includes(action)) {
      process.stderr.write(`vigil: unknown users action "${action}" (add, list, passwd, remove, unlock)\n`);
      process.exitCode = 2;
      return;
    }
    process.exitCode = await (await import('./users.js')).users(action as 'add', username, opts);
  });

program
  .command('service')
  .description('Run Vigil as a systemd service.')
  .command('install')
  .description('Print the systemd unit for this install (default), or write it with --to; prints the commands to run as root and runs none.')
  .option('--print', 'print the unit (also when writing it)')
  .option('--user <name>', 'system user and group the service runs as', 'vigil')
  .option('--data <dir>', 'data directory', '/var/lib/vigil')
  .option('--config <file>', 'YAML config file', '/etc/vigil/vigil.yml')
  .option('--node <path>', 'node binary (default: the one running this command)')
  .option('--to <file>', 'write the unit there (e.g. /etc/systemd/system/vigil.service)')
  .action(async (opts: { print?: boolean; user?: string; data?: string; config?: string; node?: string; to?: string }) => {
    process.exitCode = await (await import('./service.js')).serviceInstall(opts);
  });

program
  .command('verify')
  .description('Verify an evidence bundle offline (no database, no network): exit 0 only if every file, hash, signature and fact agrees.')
  .argument('<bundle>', 'the bundle .zip an export produced')
  .option('--fingerprint <hex>', 'fail unless the bundle is signed by this key (its fingerprint, from GET /api/v1/signing-key)')
  .option('--json', 'print the result as JSON')
  .action(async (bundle: string, opts: { fingerprint?: string; json?: boolean }) => {
    process.exitCode = await (await import('./verify.js')).verify(bundle, opts);
  });

await program.parseAsync(process.argv);
