import { writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage, VigilError } from '../shared/errors.js';

/** Where and as whom the service runs; every path absolute. */
export interface UnitLayout {
  /** System user (and its group) the service runs as. */
  user: string;
  /** The data dir (`--data`): the only place the service may write. */
  dataDir: string;
  configPath: string;
  /** The node binary. */
  nodePath: string;
  /** Vigil's built entry point (`dist/cli/main.js`). */
  entryPath: string;
}

/** The layout `deploy/systemd/vigil.service` is written for: a checkout built in /opt/vigil. */
export const DEFAULT_LAYOUT: UnitLayout = {
  user: 'vigil',
  dataDir: '/var/lib/vigil',
  configPath: '/etc/vigil/vigil.yml',
  nodePath: '/usr/bin/node',
  entryPath: '/opt/vigil/dist/cli/main.js',
};

export const DEFAULT_UNIT_PATH = '/etc/systemd/system/vigil.service';

/**
 * Node flags Vigil runs with (the unit, `npm start`, the entry point's shebang, the bench). V8 lets
 * the young generation grow to 2 × 16 MiB; Vigil's garbage is many small, short-lived objects (pipe
 * reads, rows, progress blocks), collected as well in 2 MiB: at 16 cameras the Node process keeps
 * ~30 MiB less resident and its CPU does not move (docs/proof.md, Node RSS). V8's collector works
 * beside the main thread by default (parallel scavenges, concurrent marking); for a heap this small
 * the hand-offs cost more than the work: collected on the main thread alone, the recording Node
 * process at 16 cameras spends ~0.35 % of a core less (a sixth of its CPU) with its event-loop lag
 * unchanged (docs/proof.md, issue 17, fourteenth session).
 */
export const VIGIL_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--single-threaded-gc'];

/** Long enough for every recorder's graceful stop (recorder.stop_timeout_ms, 5 s) and the indexing of its last segment, with room to spare. */
const STOP_TIMEOUT_SECONDS = 90;

/**
 * The systemd unit for `layout`. SIGTERM is Vigil's Ctrl-C; only the main process gets it
 * (KillMode=mixed): Vigil stops its own ffmpegs with SIGINT so that each closes its last segment,
 * and systemd's SIGKILL reaches whatever is left only when TimeoutStopSec runs out.
 */
export function renderUnit(layout: UnitLayout): string {
  checkLayout(layout);
  const { user, dataDir, configPath, nodePath, entryPath } = layout;
  // StateDirectory= creates a data dir under /var/lib owned by the user; elsewhere it must exist already.
  const state = dataDir.startsWith('/var/lib/') ? dataDir.slice('/var/lib/'.length) : null;
  return [
    '# Vigil as a systemd service (written by `vigil service install`; see docs/operations.md, "Running as a service").',
    '[Unit]',
    'Description=Vigil network video recorder',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `User=${user}`,
    `Group=${user}`,
    '# The built entry point, never npx: npm 11\'s npx does not pass SIGTERM on to the program it starts.',
    `ExecStart=${nodePath} ${VIGIL_NODE_FLAGS.join(' ')} ${entryPath} serve --config ${configPath} --data ${dataDir}`,
    '# SIGHUP re-reads the config file: cameras and retention change without restarting the other recorders.',
    'ExecReload=/bin/kill -HUP $MAINPID',
    `WorkingDirectory=${dataDir}`,
    ...(state ? [`StateDirectory=${state}`, 'StateDirectoryMode=0750'] : []),
    'UMask=0027',
    '# SIGTERM is Ctrl-C to Vigil: the last segments are closed and indexed, then it exits 0.',
    'KillSignal=SIGTERM',
    'KillMode=mixed',
    `TimeoutStopSec=${STOP_TIMEOUT_SECONDS}`,
    'Restart=on-failure',
    'RestartSec=5',
    '# Exit 2 is a configuration or usage error: a restart would fail the same way.',
    'RestartPreventExitStatus=2',
    '',
    '# Hardening. Vigil writes only to its data dir; it reads the config, its install and the cameras.',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    `ReadWritePaths=${dataDir}`,
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    '# No MemoryDenyWriteExecute=: V8\'s JIT maps memory writable and executable, and Node fails under it.',
    'SystemCallFilter=@system-service',
    'SystemCallErrorNumber=EPERM',
    'SystemCallArchitectures=native',
    '# No capabilities: listen on a port >= 1024 (or add AmbientCapabilities=CAP_NET_BIND_SERVICE and set it here).',
    'CapabilityBoundingSet=',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export interface ServiceFlags {
  print?: boolean;
  user?: string;
  data?: string;
  config?: string;
  node?: string;
  to?: string;
}

/**
 * `vigil service install`: prints the unit for this install (default), or writes it with `--to`, and
 * says which commands to run as root. It runs none of them: creating users and enabling services is
 * the operator's decision. Exit 0, 1 when the file cannot be written, 2 on bad usage.
 */
export async function serviceInstall(flags: ServiceFlags): Promise<number> {
  const layout: UnitLayout = {
    user: flags.user ?? DEFAULT_LAYOUT.user,
    dataDir: flags.data ? resolve(flags.data) : DEFAULT_LAYOUT.dataDir,
    configPath: flags.config ? resolve(flags.config) : DEFAULT_LAYOUT.configPath,
    nodePath: flags.node ? resolve(flags.node) : process.execPath,
    entryPath: thisEntryPoint(),
  };
  let unit: string;
  try {
    unit = renderUnit(layout);
  } catch (err) {
    process.stderr.write(`vigil: ${errorMessage(err)}\n`);
    return 2;
  }
  for (const p of [layout.nodePath, layout.entryPath]) {
    if (/^\/(home|root|run\/user)(\/|$)/.test(p)) {
      process.stderr.write(`vigil: warning: ${p} is hidden from the service by ProtectHome=yes; install Vigil and Node elsewhere (e.g. /opt/vigil)\n`);
    }
  }
  if (flags.to === undefined || flags.print) process.stdout.write(unit);
  if (flags.to === undefined) return 0;
  const to = resolve(flags.to);
  try {
    await writeFile(to, unit, { mode: 0o644 });
  } catch (err) {
    process.stderr.write(`vigil: cannot write ${to}: ${errorMessage(err)}\n`);
    return 1;
  }
  process.stderr.write(nextSteps(to, layout));
  return 0;
}

function nextSteps(to: string, l: UnitLayout): string {
  return [
    `Wrote ${to}. Vigil ran nothing else; as root, run:`,
    '',
    `  useradd --system --user-group --home-dir ${l.dataDir} --no-create-home --shell /usr/sbin/nologin ${l.user}`,
    `  install -d -m 0750 -o root -g ${l.user} ${dirname(l.configPath)}      # ${l.configPath} goes here, readable by the group`,
    ...(l.dataDir.startsWith('/var/lib/') ? [] : [`  install -d -m 0750 -o ${l.user} -g ${l.user} ${l.dataDir}`]),
    '  systemctl daemon-reload && systemctl enable --now vigil',
    '  journalctl -u vigil -f                 # the log; the first admin\'s password is in the data dir\'s initial-admin-password',
    '  systemctl reload vigil                 # after editing the config: cameras and retention, no restart',
    '',
  ].join('\n');
}

/** Vigil's built entry point of this install: dist/cli/main.js beside the folder this module runs from (src/ or dist/). */
function thisEntryPoint(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');
}

/**
 * Unit files split ExecStart= on spaces and expand `%` and `$`: paths with such characters would run
 * something else than asked, so they are refused, naming the flag.
 */
function checkLayout(l: UnitLayout): void {
  const flags: Array<[string, string]> = [
    ['--data', l.dataDir],
    ['--config', l.configPath],
    ['--node', l.nodePath],
    ['entry point', l.entryPath],
  ];
  for (const [flag, p] of flags) {
    if (!isAbsolute(p) || !/^[A-Za-z0-9/._+@,:=-]+$/.test(p)) {
      throw new VigilError('invalid_argument', `${flag}: "${p}" must be an absolute path of letters, digits and / . _ + @ , : = - only`, { field: flag });
    }
  }
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(l.user)) {
    throw new VigilError('invalid_argument', `--user: "${l.user}" is not a system user name (a-z 0-9 _ -, at most 32, starting with a letter)`, { field: '--user' });
  }
}
