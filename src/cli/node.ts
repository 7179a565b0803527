import { loadConfig } from '../config/config.js';
import { NODE_ID_PATTERN } from '../config/camera.schema.js';
import { adoptFootage, listLeases, listNodes, pinCamera, setDraining } from '../db/cluster.repo.js';
import { openDatabase } from '../db/connection.js';
import { errorMessage } from '../shared/errors.js';
import { systemClock } from '../shared/clock.js';
import { sleep } from '../shared/sleep.js';

// The catalog only: the cluster's nodes and leases, as `vigil node` shows and changes them.

interface NodeFlags {
  config?: string | undefined;
  data?: string | undefined;
  /** drain: wait until the node holds no lease (seconds at most). */
  wait?: string | undefined;
  json?: boolean | undefined;
}

/**
 * `vigil node list | drain <id> | resume <id> | pin <camera> <node> | unpin <camera> | adopt <id>` on the cluster's
 * PostgreSQL catalog (catalog.url / VIGIL_CATALOG_URL). Exit 0 done; 1 the catalog failed, an unknown
 * node or camera, or a drain that did not finish within --wait; 2 bad usage or config.
 */
export async function nodeCommand(action: string, args: string[], flags: NodeFlags): Promise<number> {
  const usage = (msg: string) => {
    process.stderr.write(`vigil node: ${msg}\n`);
    return 2;
  };
  const arity: Record<string, number> = { list: 0, drain: 1, resume: 1, pin: 2, unpin: 1, adopt: 1 };
  if (!(action in arity)) return usage(`unknown action "${action}" (list, drain, resume, pin, unpin, adopt)`);
  if (args.length !== arity[action]) return usage(`${action} takes ${arity[action]} argument(s), got ${args.length}`);
  const waitS = flags.wait === undefined ? undefined : Number(flags.wait);
  if (waitS !== undefined && (!Number.isFinite(waitS) || waitS < 0)) return usage(`--wait: "${flags.wait}" is not a number of seconds`);
  let url: string;
  try {
    const config = loadConfig({ configPath: flags.config, overrides: { dataDir: flags.data } });
    if (config.catalogUrl === undefined) return usage('a cluster runs on a PostgreSQL catalog: set catalog.url (or VIGIL_CATALOG_URL)');
    url = config.catalogUrl;
  } catch (err) {
    return usage(errorMessage(err));
  }
  const opened = await openDatabase(url).catch((err: unknown) => err as Error);
  if (opened instanceof Error) {
    process.stderr.write(`vigil node: cannot open the catalog: ${errorMessage(opened)}\n`);
    return 1;
  }
  const db = opened.db;
  try {
    if (action === 'list') {
      const [nodes, leases] = await Promise.all([listNodes(db), listLeases(db)]);
      const now = systemClock.nowMs();
      const out = nodes.map((n) => ({
        id: n.id,
        url: n.url,
        state: n.stoppedAtMs !== null ? 'stopped' : now - n.heartbeatAtMs > 60_000 ? 'silent' : n.draining ? 'draining' : 'up',
        draining: n.draining,
        capacity: n.capacity,
        heartbeat_age_seconds: Math.round((now - n.heartbeatAtMs) / 100) / 10,
        cameras: leases.filter((l) => l.nodeId === n.id && l.expiresAtMs >= now).map((l) => l.cameraId),
      }));
      if (flags.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      else for (const n of out) process.stdout.write(`${n.id.padEnd(16)} ${n.state.padEnd(9)} ${String(n.cameras.length).padStart(4)}/${n.capacity} cameras  ${n.url}  heartbeat ${n.heartbeat_age_seconds}s ago\n`);
      return 0;
    }
    if (action === 'drain' || action === 'resume') {
      const id = args[0]!;
      if (!(await setDraining(db, id, action === 'drain'))) {
        process.stderr.write(`vigil node: no node "${id}" in the catalog\n`);
        return 1;
      }
      if (action === 'resume') {
        process.stdout.write(`node ${id} takes cameras again\n`);
        return 0;
      }
      process.stdout.write(`node ${id} is draining: its cameras move to the other nodes\n`);
      if (waitS === undefined) return 0;
      const deadline = systemClock.nowMs() + waitS * 1000;
      for (;;) {
        const held = (await listLeases(db)).filter((l) => l.nodeId === id);
        if (held.length === 0) {
          process.stdout.write(`node ${id} holds no camera\n`);
          return 0;
        }
        if (systemClock.nowMs() >= deadline) {
          process.stderr.write(`vigil node: node ${id} still holds ${held.length} camera(s) after ${waitS}s: ${held.map((l) => l.cameraId).join(', ')}\n`);
          return 1;
        }
        await sleep(250);
      }
    }
    if (action === 'adopt') {
      const id = args[0]!;
      if (!new RegExp(NODE_ID_PATTERN).test(id)) return usage(`"${id}" is not a node id`);
      process.stdout.write(`${await adoptFootage(db, id)} segment(s) without a node now held by node ${id}\n`);
      return 0;
    }
    const cameraId = args[0]!;
    const nodeId = action === 'pin' ? args[1]! : null;
    if (!(await pinCamera(db, cameraId, nodeId))) {
      process.stderr.write(`vigil node: no camera "${cameraId}"\n`);
      return 1;
    }
    process.stdout.write(nodeId ? `camera ${cameraId} pinned to node ${nodeId}\n` : `camera ${cameraId} unpinned\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`vigil node: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    await opened.close();
  }
}
