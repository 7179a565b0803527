/**
 * API fuzz: malformed and hostile requests against every route of the OpenAPI document. Promises:
 * no answer ≥ 500, every error is the JSON error shape, no malformed request changes anything (the
 * database, but for the audit trail and sign-in failure counts that exist to record such attempts,
 * and the recordings folder), and Vigil still answers afterwards.
 */
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RtspServer } from '../src/demo/rtsp-server.js';
import { readCatalog } from '../test/support/footage.js';
import { removeDir, startVigil, waitFor, type TestVigil } from '../test/support/harness.js';
import { prng, type StormOptions, type StormResult } from './storm.js';

/** Tables that exist to record attempts (each malformed request may add a row); everything else must not change. */
const BOOKKEEPING = new Set(['audit_log', 'login_failures']);
/** Columns refreshed by use, not by a change (at most once a minute). */
const TOUCHED: Record<string, string[]> = { api_keys: ['last_used_at_ms'], sessions: ['last_seen_at_ms'] };

const HOSTILE = [
  '',
  ' ',
  '../../../../etc/passwd',
  '..%2f..%2f..%2fetc%2fpasswd',
  '%2e%2e%2f%2e%2e%2fvigil.db',
  '....//....//etc/passwd',
  '/etc/passwd',
  'C:\\Windows\\win.ini',
  "'; DROP TABLE segments; --",
  "' OR '1'='1",
  '1 OR 1=1',
  '1; DELETE FROM cameras',
  '$(reboot)',
  '`id`',
  '; rm -rf / #',
  '| cat /etc/shadow',
  '&& curl http://127.0.0.1:1/x',
  '\u0000',
  '%00',
  '\r\nX-Injected: 1',
  '😀🎥',
  '<script>alert(1)</script>',
  '{{7*7}}',
  '${jndi:ldap://127.0.0.1/a}',
  'rtsp://evil.example/;id',
  'rtsp://a b/c',
  'file:///etc/passwd',
  'NaN',
  'Infinity',
  '-1',
  '0',
  '1e309',
  '0x1F',
  '9007199254740993',
  'null',
  'true',
  '[]',
  '{}',
  '2026-13-45T99:99:99Z',
  '2026-11-26T10:00:00',
  '2026-11-26',
  'yesterday',
  '+275760-09-13T00:00:00.001Z',
  '-271821-04-20T00:00:00Z',
  '9999-12-31T23:59:59.999+14:00',
  'a'.repeat(300),
  'x'.repeat(9000),
];
const WEIRD_VALUES: unknown[] = [null, true, false, -1, 0, 1.5, 1e308, -1e308, 2 ** 53 + 1, [], {}, [1, 2], { a: 1 }, 'x'.repeat(3000), ...HOSTILE.slice(0, 30)];

interface Op {
  method: string;
  path: string;
  params: string[];
  query: string[];
  hasBody: boolean;
  bodyFields: string[];
}

export interface FuzzOptions extends StormOptions {
  requests?: number;
  seed?: number;
}

export async function runApiFuzz(o: FuzzOptions): Promise<StormResult> {
  const total = o.requests ?? (o.size === 'full' ? 10_000 : 3_000);
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rand = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)] as T;
  const violations: string[] = [];
  const server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
  let vigil: TestVigil | undefined;
  try {
    vigil = await startVigil({ cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }] });
    const v = vigil;
    o.log(`api fuzz: seed ${seed}, ${total} requests; recording a few segments first`);
    await waitFor('3 segments', () => readCatalog(v.dataDir).segments.length >= 3, 40_000);
    // Recording stops, so that nothing but the fuzz could change the database or the folder.
    const off = await v.api('/cameras/cam1', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enabled: false }) });
    if (off.status !== 200) throw new Error(`could not disable the camera: ${off.status}`);
    await waitFor('the recorder to stop', async () => ((await (await v.api('/cameras/cam1/status')).json()) as { state: string }).state === 'disabled', 20_000);
    const segments = readCatalog(v.dataDir).segments;
    const seg = segments[1] ?? segments[0];
    if (!seg) throw new Error('no segment recorded');
    const segId = seg.id;
    const viewer = await v.api('/api-keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'fuzz-viewer', role: 'viewer' }) });
    const viewerKey = ((await viewer.json()) as { key: string }).key;
    // Keys are used once before the snapshot, so their last-used time is already set.
    await fetch(`${v.app.url}/api/v1/cameras`, { headers: { authorization: `Bearer ${viewerKey}` } });

    const doc = (await (await fetch(`${v.app.url}/api/docs/json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }>; requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> } }>>;
    };
    const ops: Op[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const params = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        const query = (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
        const schema = op.requestBody?.content?.['application/json']?.schema;
        ops.push({ method: method.toUpperCase(), path, params, query, hasBody: op.requestBody !== undefined, bodyFields: Object.keys(schema?.properties ?? {}) });
      }
    }
    const apiOps = ops.filter((op) => op.path.startsWith('/api/v1/'));
    o.log(`api fuzz: ${apiOps.length} operations in the OpenAPI document`);

    const before = await snapshot(v.dataDir);
    const iso = (ms: number) => new Date(ms).toISOString();
    const validTimes = { from: iso(seg.start_ms), to: iso(seg.end_ms), at: iso(seg.start_ms + 300), since: iso(seg.start_ms) };
    const auths = (): Record<string, string> => {
      const r = rand();
      if (r < 0.8) return v.auth;
      if (r < 0.87) return {};
      if (r < 0.93) return { authorization: `Bearer ${viewerKey}` };
      return { authorization: pick(['Bearer vgl_forged', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', `Bearer ${'x'.repeat(5000)}`, 'Bearer vgl_\u00ff']) };
    };

    /** A hostile request; one that would change state names only ids that do not exist, or is malformed. */
    function build(op: Op): { method: string; url: string; headers: Record<string, string>; body?: string; changes: boolean } {
      const changes = op.method !== 'GET' && op.method !== 'HEAD';
      let path = op.path;
      for (const p of op.params) {
        let value: string;
        const r = rand();
        if (!changes && r < 0.25) value = p === 'id' && op.path.includes('/segments/') ? String(segId) : p === 'id' ? 'cam1' : '1';
        else if (r < 0.5) {
          value = pick(HOSTILE);
        } else value = p === 'gapId' || op.path.includes('/users/') || op.path.includes('/api-keys/') || op.path.includes('/segments/') ? String(100_000 + Math.floor(rand() * 1e6)) : `nope-${Math.floor(rand() * 1000)}`;
        path = path.replace(`{${p}}`, encodeURIComponent(value).replace(/%2F/gi, rand() < 0.5 ? '/' : '%2F'));
      }
      const q = new URLSearchParams();
      for (const name of op.query) {
        const r = rand();
        if (r < 0.35) q.set(name, (validTimes as Record<string, string>)[name] ?? String(Math.floor(rand() * 200)));
        else if (r < 0.8) q.set(name, pick(HOSTILE));
      }
      if (rand() < 0.2) q.set(pick(['__proto__', 'constructor', 'limit[]', 'x', 'from[$gt]']), pick(HOSTILE));
      if (rand() < 0.05) q.append(op.query[0] ?? 'from', 'twice');
      // A change that takes no input at all (key rotation) is malformed only through what is added to it.
      if (changes && op.params.length === 0 && !op.hasBody && op.bodyFields.length === 0 && [...q].length === 0) q.set(pick(['x', '__proto__', 'now']), pick(HOSTILE));
      const url = `${v.app.url}${path}${[...q].length > 0 ? `?${q.toString()}` : ''}`;
      const headers = { ...auths() };
      let body: string | undefined;
      if (op.hasBody || (changes && rand() < 0.5)) {
        const r = rand();
        if (r < 0.15) {
          body = pick(['{', '{"a":', 'null', '[]', '"text"', '1', '', '{"a":1}}', '\u0000', 'undefined']);
          headers['content-type'] = 'application/json';
        } else if (r < 0.22) {
          body = JSON.stringify({ blob: 'x'.repeat(70 * 1024) });
          headers['content-type'] = 'application/json';
        } else if (r < 0.28) {
          body = 'id=cam9&main_url=rtsp://x/y';
          headers['content-type'] = pick(['application/x-www-form-urlencoded', 'text/plain', 'application/xml', 'multipart/form-data; boundary=x']);
        } else if (r < 0.32) {
          let nested: unknown = 1;
          for (let i = 0; i < 2000; i++) nested = [nested];
          body = JSON.stringify({ from: nested });
          headers['content-type'] = 'application/json';
        } else {
          const obj: Record<string, unknown> = {};
          for (const f of op.bodyFields) {
            const rr = rand();
            if (rr < 0.4) obj[f] = (validTimes as Record<string, string>)[f] ?? pick(WEIRD_VALUES);
            else if (rr < 0.8) obj[f] = pick(WEIRD_VALUES);
          }
          // Always one field that no schema has (or a prototype key): a body with it is refused.
          // Defined, not assigned: `obj.__proto__ = v` would set the prototype and leave the body `{}`,
          // which a change whose fields are all optional (ONVIF discovery) rightly accepts.
          Object.defineProperty(obj, pick(['__proto__', 'constructor', 'admin', 'is_admin', 'role_override', 'x']), { value: pick(WEIRD_VALUES), enumerable: true, configurable: true, writable: true });
          body = rand() < 0.1 ? `{"__proto__":{"polluted":true},${JSON.stringify(obj).slice(1)}` : JSON.stringify(obj);
          headers['content-type'] = 'application/json';
        }
      }
      return { method: op.method, url, headers, ...(body !== undefined ? { body } : {}), changes };
    }

    const statusCounts = new Map<number, number>();
    let sent = 0;
    const started = performance.now();
    async function worker(): Promise<void> {
      while (sent < total) {
        sent++;
        const op = rand() < 0.03 ? { ...pick(apiOps), method: pick(['PUT', 'OPTIONS', 'PROPFIND', 'PURGE']) } : pick(apiOps);
        const req = build(op);
        let res: Response;
        try {
          res = await fetch(req.url, { method: req.method, headers: req.headers, ...(req.body !== undefined ? { body: req.body } : {}) });
        } catch (err) {
          // The client refusing to send (e.g. a header value it cannot encode) is not an answer from Vigil.
          if (String(err).includes('Headers') || String(err).includes('header') || String(err).includes('ByteString')) continue;
          violations.push(`${req.method} ${req.url.slice(0, 200)}: no answer (${String(err)})`);
          continue;
        }
        const text = Buffer.from(await res.arrayBuffer()).toString('utf8');
        statusCounts.set(res.status, (statusCounts.get(res.status) ?? 0) + 1);
        const what = `${req.method} ${req.url.slice(v.app.url.length, v.app.url.length + 160)} → ${res.status}`;
        if (res.status >= 500) violations.push(`${what}: ${text.slice(0, 200)}`);
        if (res.status >= 400 && req.method !== 'HEAD') {
          let ok = false;
          try {
            ok = typeof (JSON.parse(text) as { error?: unknown }).error === 'string';
          } catch {
            ok = false;
          }
          if (!ok) violations.push(`${what}: error body is not {error, message}: ${text.slice(0, 120)}`);
        }
        if (req.changes && res.status < 300 && !req.url.includes('/auth/logout') && !req.url.includes('/auth/login')) {
          violations.push(`${what}: a malformed state change was accepted`);
        }
      }
    }
    await Promise.all(Array.from({ length: 8 }, worker));
    const seconds = (performance.now() - started) / 1000;

    const after = await snapshot(v.dataDir);
    for (const [table, hash] of before.tables) {
      if (after.tables.get(table) !== hash) violations.push(`table ${table} changed`);
    }
    for (const table of after.tables.keys()) if (!before.tables.has(table)) violations.push(`table ${table} appeared`);
    if (before.files !== after.files) violations.push('the recordings folder changed');
    const health = await fetch(`${v.app.url}/api/v1/healthz`).catch(() => undefined);
    if (health?.status !== 200) violations.push('Vigil does not answer healthz after the fuzz');
    const locks = readCatalog(v.dataDir).segments.filter((s) => (s as unknown as { locked: number }).locked !== 0);
    if (locks.length > 0) violations.push(`${locks.length} segments still read-locked`);

    const statuses = [...statusCounts].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ');
    return {
      name: 'API fuzz',
      summary: [
        ['seed', String(seed)],
        ['operations', String(apiOps.length)],
        ['requests', `${sent} in ${seconds.toFixed(1)} s`],
        ['answers', statuses],
        ['≥ 500', String([...statusCounts].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0))],
        ['database changed', before.tables.size === after.tables.size && violations.every((x) => !x.startsWith('table')) ? 'no (audit rows and sign-in failures aside)' : 'YES'],
        ['recordings changed', before.files === after.files ? 'no' : 'YES'],
      ],
      violations,
    };
  } finally {
    await vigil?.app.stop();
    await server.stop();
    if (vigil) await removeDir(vigil.dataDir);
  }
}

/** A hash per table (rows in primary-key order, touched-by-use columns left out) and one of the folder listing. */
async function snapshot(dataDir: string): Promise<{ tables: Map<string, string>; files: string }> {
  const db = new Database(join(dataDir, 'vigil.db'), { readonly: true });
  const tables = new Map<string, string>();
  try {
    const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>;
    for (const { name } of names) {
      if (BOOKKEEPING.has(name)) continue;
      const rows = db.prepare(`SELECT * FROM "${name}" ORDER BY 1`).all() as Array<Record<string, unknown>>;
      for (const r of rows) for (const c of TOUCHED[name] ?? []) delete r[c];
      tables.set(name, createHash('sha256').update(JSON.stringify(rows)).digest('hex'));
    }
  } finally {
    db.close();
  }
  const entries: string[] = [];
  const root = join(dataDir, 'recordings');
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    const s = await stat(p);
    entries.push(`${p.slice(root.length)} ${s.size} ${s.mtimeMs}`);
  }
  return { tables, files: entries.sort().join('\n') };
}
