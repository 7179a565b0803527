/**
 * Disk-full storm: Vigil records real RTSP cameras (noisy picture, realistic bitrate) onto a small
 * tmpfs mounted on `<data>/recordings` — the usual NVR layout, a recordings disk that fills while the
 * database lives elsewhere. Each cycle: an operator holds every segment as evidence (retention may not
 * delete any of it), the disk fills up; Vigil must say so (camera state and last_error, a critical
 * `disk_full` event, readyz 503). Then the holds are released except one segment per camera; the
 * sweeper must free space down to the floor, recording must resume by itself, and keep going. At the
 * end: catalog ↔ disk consistent, read-locks 0, the kept evidence intact, no ffmpeg left, no zombie.
 */
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RtspServer, rtspServerAvailable } from '../src/demo/rtsp-server.js';
import { sleep } from '../src/shared/sleep.js';
import { checkConsistency, querySql } from '../test/support/footage.js';
import { ffmpegPidsFor, removeDir, startVigil, tempDir, type TestVigil } from '../test/support/harness.js';
import type { StormOptions, StormResult } from './storm.js';
import { MountRefused, freeBytes, mountTmpfs, unmount } from './tmpfs.js';

const MiB = 1024 * 1024;
const SIZES = {
  ci: { diskBytes: 32 * MiB, floorBytes: 6 * MiB, cameras: 2, bitrateKbps: 5000, cycles: 1, observeSeconds: 10 },
  full: { diskBytes: 128 * MiB, floorBytes: 16 * MiB, cameras: 2, bitrateKbps: 8000, cycles: 3, observeSeconds: 30 },
};
/** Below this much free space the recordings disk counts as full (a fragment no longer fits). */
const FULL_BELOW_BYTES = 1 * MiB;
const KEEP_TAG = 'storm-keep';

type Status = { state: string; last_error: string | null; reconnect_count: number };
type Ready = { status: number; detail: string; recordings: { reason?: string } | undefined };
type EventRow = { type: string; severity: string; ts: string; camera_id: string | null };

export async function runDiskFull(o: StormOptions): Promise<StormResult> {
  const size = SIZES[o.size];
  const result: StormResult = { name: 'disk full', summary: [], violations: [] };
  const rtsp = await rtspServerAvailable();
  if (!rtsp.ok) return { ...result, skipped: `no RTSP test server: ${rtsp.reason}` };
  const dataDir = await tempDir('vigil-diskfull-');
  const recDir = join(dataDir, 'recordings');
  await mkdir(recDir, { recursive: true });
  try {
    await mountTmpfs(recDir, size.diskBytes);
  } catch (err) {
    await removeDir(dataDir);
    if (err instanceof MountRefused) return { ...result, skipped: err.message };
    throw err;
  }
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  let server: RtspServer | undefined;
  let vigil: TestVigil | undefined;
  let storm: Storm | undefined;
  try {
    server = await RtspServer.start({
      mounts: Array.from({ length: size.cameras }, (_, i) => ({ name: `cam${i + 1}`, pattern: 'snow', bitrateKbps: size.bitrateKbps, clock: false })),
    });
    const cams = Array.from({ length: size.cameras }, (_, i) => `cam${i + 1}`);
    vigil = await startVigil({
      dataDir,
      cameras: cams.map((id) => ({ id, main_url: server!.url(id), segment_seconds: 2 })),
      retention: { min_free_bytes: size.floorBytes },
    });
    storm = new Storm(vigil, cams, recDir, size.floorBytes, o.log, result);
    result.summary.push(['recordings disk', `tmpfs ${size.diskBytes / MiB} MiB, floor ${size.floorBytes / MiB} MiB, database on the system disk`]);
    result.summary.push(['cameras', `${size.cameras} × snow ${size.bitrateKbps} kbps, 2 s segments`]);
    for (let cycle = 1; cycle <= size.cycles; cycle++) await storm.cycle(cycle, size.observeSeconds);
    await storm.finish();
  } finally {
    await vigil?.app.stop().catch((err: unknown) => result.violations.push(`Vigil did not stop cleanly: ${String(err)}`));
    await server?.stop();
    process.off('unhandledRejection', onUnhandled);
    if (vigil) await afterStop(dataDir, storm?.keptIds ?? [], result);
    await unmount(recDir);
    await removeDir(dataDir);
  }
  for (const u of unhandled) result.violations.push(`unhandled rejection in Vigil: ${String(u)}`);
  return result;
}

class Storm {
  private readonly keepers = new Set<number>();
  private readonly t0 = Date.now();

  constructor(
    private readonly v: TestVigil,
    private readonly cams: string[],
    private readonly recDir: string,
    private readonly floorBytes: number,
    private readonly log: (line: string) => void,
    private readonly r: StormResult,
  ) {}

  private violation(text: string): void {
    this.r.violations.push(text);
    this.log(`  ✗ ${text}`);
  }

  async cycle(n: number, observeSeconds: number): Promise<void> {
    const tag = `cycle ${n}`;
    this.log(`${tag}: holding every segment as evidence while the disk fills`);
    const everHeld = new Set<number>();
    const holding = new AbortController();
    const holder = this.holdEverything(everHeld, holding.signal);
    const startMs = Date.now();
    const fullAt = await this.until(`${tag}: recordings disk full`, 180_000, async () => ((await freeBytes(this.recDir)) < FULL_BELOW_BYTES ? Date.now() : undefined));
    if (fullAt === undefined) {
      holding.abort();
      await holder;
      return;
    }
    this.r.summary.push([`${tag}: disk filled in`, `${((fullAt - startMs) / 1000).toFixed(1)} s`]);
    await this.expectReported(tag, fullAt);
    holding.abort();
    await holder;

    // Nothing held may be gone: retention never deletes evidence, even with the disk full.
    const present = new Set(this.ids('1 = 1'));
    const lost = [...everHeld].filter((id) => !present.has(id));
    if (lost.length > 0) this.violation(`${tag}: ${lost.length} evidence-held segments were deleted (ids ${lost.slice(0, 5).join(', ')})`);

    const releasedAt = await this.releaseHoldsButOne(tag);
    await this.expectRecovery(tag, fullAt, releasedAt);
    await this.observe(tag, observeSeconds);
  }

  /** The operator's hold on everything recorded so far, renewed as segments arrive. */
  private async holdEverything(everHeld: Set<number>, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      for (const cam of this.cams) {
        const res = await this.v.api(`/cameras/${cam}/evidence-lock`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          // No incident tag: the segments kept from earlier cycles keep theirs.
          body: JSON.stringify({ from: iso(this.t0 - 60_000), to: iso(Date.now() + 60_000) }),
        });
        if (res.status !== 200) this.violation(`hold on ${cam} answered ${res.status}: ${await res.text()}`);
        else await res.body?.cancel();
      }
      for (const id of this.ids('evidence_locked = 1')) everHeld.add(id);
      await sleep(300, signal);
    }
  }

  /** State and last_error of every camera, a critical event, and readyz 503 that says why. */
  private async expectReported(tag: string, fullAt: number): Promise<void> {
    const states = await this.until(`${tag}: every camera in state error with a last_error naming the full disk`, 30_000, async () => {
      const all = await Promise.all(this.cams.map((c) => this.status(c)));
      return all.every((s) => s.state === 'error' && /no space left on device|disk is full/i.test(s.last_error ?? '')) ? all : undefined;
    });
    if (states) this.r.summary.push([`${tag}: camera state`, `error: ${firstLine(states[0]?.last_error ?? '')}`]);
    const event = await this.until(`${tag}: a critical disk_full event`, 30_000, async () =>
      (await this.events('disk_full')).find((e) => e.severity === 'critical' && Date.parse(e.ts) >= fullAt - 5_000),
    );
    if (event) this.r.summary.push([`${tag}: disk_full event after`, `${((Date.parse(event.ts) - fullAt) / 1000).toFixed(1)} s`]);
    const ready = await this.until(`${tag}: readyz 503 naming the full disk`, 30_000, async () => {
      const r = await this.ready();
      return r.status === 503 && /"full":true|disk is full/i.test(r.detail) ? r : undefined;
    });
    if (ready) this.r.summary.push([`${tag}: readyz`, `503: ${ready.recordings?.reason ?? ready.detail.slice(0, 90)}`]);
  }

  /** Releases every hold but the oldest segment of this cycle per camera; returns when. */
  private async releaseHoldsButOne(tag: string): Promise<number> {
    for (const cam of this.cams) {
      const held = querySql(this.v.app.config.dataDir, `SELECT id, end_ms FROM segments WHERE camera_id = '${cam}' AND evidence_locked = 1 ORDER BY start_ms`) as Array<{ id: number; end_ms: number }>;
      const keep = held.find((h) => !this.keepers.has(h.id));
      if (!keep) {
        this.violation(`${tag}: ${cam} has no held segment to keep`);
        continue;
      }
      this.keepers.add(keep.id);
      const tagged = await this.v.api(`/segments/${keep.id}/incident`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ incident_id: KEEP_TAG }) });
      if (tagged.status !== 200) this.violation(`${tag}: tagging segment ${keep.id} answered ${tagged.status}`);
      const res = await this.v.api(`/cameras/${cam}/evidence-lock`, {
        method: 'DELETE',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: iso(keep.end_ms), to: iso(Date.now() + 3600_000) }),
      });
      if (res.status !== 200) this.violation(`${tag}: releasing ${cam} answered ${res.status}: ${await res.text()}`);
    }
    this.log(`${tag}: holds released (kept ${this.keepers.size} segments as evidence)`);
    return Date.now();
  }

  /** The sweeper frees space, recording resumes by itself, readyz is 200 again. */
  private async expectRecovery(tag: string, fullAt: number, releasedAt: number): Promise<void> {
    const freed = await this.until(`${tag}: free space back to the floor after the holds were released`, 60_000, async () => {
      const free = await freeBytes(this.recDir);
      return free >= this.floorBytes * 0.9 ? free : undefined;
    });
    if (freed !== undefined) this.r.summary.push([`${tag}: freed after release`, `${((Date.now() - releasedAt) / 1000).toFixed(1)} s (free ${(freed / MiB).toFixed(1)} MiB)`]);
    const deleted = await this.until(`${tag}: a retention_deleted event after the release`, 30_000, async () =>
      (await this.events('retention_deleted')).find((e) => Date.parse(e.ts) >= releasedAt),
    );
    if (!deleted) return;
    const resumed = await this.until(`${tag}: every camera recording new segments after the disk had been full`, 60_000, async () => {
      const all = await Promise.all(this.cams.map((c) => this.status(c)));
      const fresh = this.cams.every((c) => this.ids(`camera_id = '${c}' AND start_ms > ${fullAt + 1000}`).length > 0);
      return fresh && all.every((s) => s.state === 'recording') ? Date.now() : undefined;
    });
    if (resumed !== undefined) this.r.summary.push([`${tag}: recording again`, `${((resumed - releasedAt) / 1000).toFixed(1)} s after release`]);
    await this.until(`${tag}: readyz 200 once space is back`, 30_000, async () => ((await this.ready()).status === 200 ? true : undefined));
    await this.until(`${tag}: a disk_space_recovered event`, 10_000, async () => (await this.events('disk_space_recovered')).find((e) => Date.parse(e.ts) >= releasedAt));
  }

  /** Space freed, policy allows deletion: recording must go on without the disk filling again. */
  private async observe(tag: string, seconds: number): Promise<void> {
    const since = Date.now();
    let minFree = Infinity;
    const bad = new Set<string>();
    while (Date.now() - since < seconds * 1000) {
      minFree = Math.min(minFree, await freeBytes(this.recDir));
      for (const c of this.cams) {
        const s = await this.status(c);
        if (s.state !== 'recording') bad.add(`${c} ${s.state}: ${firstLine(s.last_error ?? '')}`);
      }
      const r = await this.ready();
      if (r.status !== 200) bad.add(`readyz ${r.status} ${r.detail.slice(0, 120)}`);
      const recorders = await ffmpegPidsFor(this.v.dataDir);
      if (recorders.length > this.cams.length) bad.add(`${recorders.length} ffmpeg processes for ${this.cams.length} cameras`);
      await sleep(500);
    }
    const refull = (await this.events('disk_full')).filter((e) => Date.parse(e.ts) >= since);
    if (refull.length > 0) this.violation(`${tag}: the disk filled again ${refull.length}× while retention could delete`);
    for (const b of bad) this.violation(`${tag}: while recording on with space: ${b}`);
    this.r.summary.push([`${tag}: ${seconds} s after recovery`, `min free ${(minFree / MiB).toFixed(1)} MiB, ${bad.size === 0 ? 'recording throughout' : 'interrupted'}`]);
  }

  async finish(): Promise<void> {
    const res = await fetch(`${this.v.app.url}/api/v1/healthz`);
    if (res.status !== 200) this.violation(`healthz answered ${res.status} at the end`);
    const counts = querySql(this.v.app.config.dataDir, 'SELECT COUNT(*) AS n, SUM(size_bytes) AS bytes FROM segments')[0] as { n: number; bytes: number };
    this.r.summary.push(['segments at the end', `${counts.n} (${(counts.bytes / MiB).toFixed(1)} MiB)`]);
    const statuses = await Promise.all(this.cams.map((c) => this.status(c)));
    this.r.summary.push(['recorder restarts', statuses.map((s, i) => `${this.cams[i]} ${s.reconnect_count}`).join(', ')]);
    const logs = this.v.logs();
    for (const needle of ['recorder loop failed', 'retention sweep failed']) if (logs.includes(needle)) this.violation(`Vigil logged "${needle}"`);
  }

  /** The kept evidence, checked once Vigil has stopped. */
  get keptIds(): number[] {
    return [...this.keepers];
  }

  private ids(where: string): number[] {
    return (querySql(this.v.app.config.dataDir, `SELECT id FROM segments WHERE ${where}`) as Array<{ id: number }>).map((r) => r.id);
  }

  private async status(cam: string): Promise<Status> {
    return (await (await this.v.api(`/cameras/${cam}/status`)).json()) as Status;
  }

  private async ready(): Promise<Ready> {
    const res = await fetch(`${this.v.app.url}/api/v1/readyz`);
    const detail = ((await res.json()) as { detail?: { recordings?: { reason?: string } } }).detail ?? {};
    return { status: res.status, detail: JSON.stringify(detail), recordings: detail.recordings };
  }

  private async events(type: string): Promise<EventRow[]> {
    return ((await (await this.v.api(`/events?type=${type}&limit=100`)).json()) as { events: EventRow[] }).events;
  }

  /** Polls `fn`; on timeout records a violation (the storm goes on) and returns undefined. */
  private async until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > deadline) {
        this.violation(`${what}: not within ${timeoutMs / 1000} s`);
        return undefined;
      }
      await sleep(250);
    }
  }
}

/** Checks that need Vigil stopped: catalog ↔ disk, read-locks, kept evidence, processes. */
async function afterStop(dataDir: string, want: number[], r: StormResult): Promise<void> {
  for (const p of await checkConsistency(dataDir)) r.violations.push(`catalog: ${p}`);
  const locks = querySql(dataDir, 'SELECT COALESCE(SUM(locked), 0) AS n FROM segments')[0] as { n: number };
  if (locks.n !== 0) r.violations.push(`read-locks left: ${locks.n}`);
  const tombstones = querySql(dataDir, 'SELECT COUNT(*) AS n FROM segment_tombstones')[0] as { n: number };
  if (tombstones.n !== 0) r.violations.push(`tombstones left: ${tombstones.n}`);
  const kept = querySql(dataDir, `SELECT id FROM segments WHERE evidence_locked = 1 AND incident_id = '${KEEP_TAG}'`) as Array<{ id: number }>;
  const have = new Set(kept.map((k) => k.id));
  const missing = want.filter((id) => !have.has(id));
  if (missing.length > 0) r.violations.push(`kept evidence gone or released: segments ${missing.join(', ')}`);
  r.summary.push(['kept evidence', `${want.length - missing.length}/${want.length} intact`]);
  const left = await ffmpegPidsFor(dataDir);
  if (left.length > 0) r.violations.push(`ffmpeg still running after stop: pids ${left.join(', ')}`);
  const zombies = await zombieChildren();
  if (zombies.length > 0) r.violations.push(`zombie children: ${zombies.join(', ')}`);
  r.summary.push(['after stop', `ffmpeg left ${left.length}, zombies ${zombies.length}, read-locks ${locks.n}`]);
}

/** Children of this process that exited and were never reaped. */
async function zombieChildren(): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat);
    if (m && m[2] === 'Z' && Number(m[3]) === process.pid) out.push(`${e} (${m[1]})`);
  }
  return out;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function firstLine(s: string): string {
  return s.split('\n')[0]?.slice(0, 100) ?? '';
}
