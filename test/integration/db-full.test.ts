/**
 * The catalog's disk fills up while the recordings disk still has room (the data folder and
 * `<data>/recordings` on two filesystems, as docs/operations.md recommends, and the small one filled by
 * something else): recording goes on, readiness says the database is full, API writes answer 503
 * and change nothing, and every segment that closed meanwhile gets its row once space is back —
 * without a restart, without a hole.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { MountRefused, mountTmpfs, unmount } from '../../torture/tmpfs.js';
import { checkConsistency, querySql, readCatalog } from '../support/footage.js';
import { removeDir, startVigil, tempDir, waitFor, type TestVigil } from '../support/harness.js';

const MiB = 1024 * 1024;

/** Writes zeros into `path` until the filesystem refuses (ENOSPC); returns the bytes written. */
function fillUp(path: string): number {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return written;
}

describe('the catalog disk full while the recordings disk has room', () => {
  let server: RtspServer | undefined;
  let vigil: TestVigil | undefined;
  const mounts: string[] = [];
  afterAll(async () => {
    await vigil?.app.stop();
    await server?.stop();
    for (const m of mounts.reverse()) await unmount(m).catch(() => undefined);
    if (vigil) await removeDir(vigil.dataDir);
  });

  it('records on, says so (readyz, 503 on writes, nothing changed) and indexes what closed meanwhile once space is back', async () => {
    const dataDir = await tempDir();
    try {
      await mountTmpfs(dataDir, 24 * MiB);
    } catch (err) {
      if (err instanceof MountRefused) {
        process.stderr.write(`skipped: ${err.message}\n`);
        return;
      }
      throw err;
    }
    mounts.push(dataDir);
    await mkdir(join(dataDir, 'recordings'));
    await mountTmpfs(join(dataDir, 'recordings'), 512 * MiB);
    mounts.push(join(dataDir, 'recordings'));

    server = await RtspServer.start({ mounts: [{ name: 'cam1' }] });
    vigil = await startVigil({ dataDir, cameras: [{ id: 'cam1', main_url: server.url('cam1'), segment_seconds: 2 }] });
    const v = vigil;
    await waitFor('two segments indexed', () => readCatalog(dataDir).segments.length >= 2, 30_000);

    // From here, every write must append to the WAL: it starts empty on a disk with no room left.
    querySql(dataDir, 'PRAGMA wal_checkpoint(TRUNCATE)', { write: true });
    const balloon = join(dataDir, 'balloon');
    fillUp(balloon);
    const rowsWhenFull = readCatalog(dataDir).segments.length;

    // Readiness says why, without credentials.
    const ready = await waitFor('readyz to report the database full', async () => {
      const r = await fetch(`${v.app.url}/api/v1/readyz`);
      const body = (await r.json()) as { status: string; detail: { database: string } };
      return r.status === 503 && body.detail.database === 'full' ? body : undefined;
    }, 30_000).catch((err: unknown) => {
      process.stderr.write(v.logs().slice(-6000));
      throw err;
    });
    expect(ready.status).toBe('not_ready');

    // A write through the API: 503 with a retry hint and a message that says what to do; not a 500.
    const created = await v.api('/cameras', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'cam2', main_url: 'rtsp://127.0.0.1:9/x', enabled: false }),
    });
    const createdBody = (await created.json()) as { error: string; message: string };
    expect(created.status, JSON.stringify(createdBody)).toBe(503);
    expect(created.headers.get('retry-after')).toBe('30');
    expect(createdBody.error).toBe('unavailable');
    expect(createdBody.message).toMatch(/database disk is full/);

    // Recording goes on: segment files keep closing on the recordings disk, with no row yet.
    const recDir = join(dataDir, 'recordings', 'cam1');
    const filesNow = async () => (await readdir(recDir)).filter((f) => f.endsWith('.mp4')).length;
    const filesWhenFull = await filesNow();
    await waitFor('three more segment files while the catalog is full', async () => (await filesNow()) >= filesWhenFull + 3, 30_000);
    expect(readCatalog(dataDir).segments.length).toBe(rowsWhenFull);

    // Space comes back: the rows are written by the retries, no restart.
    await rm(balloon);
    await waitFor('the rows of the segments that closed meanwhile', () => readCatalog(dataDir).segments.length >= rowsWhenFull + 3, 45_000);
    await waitFor('readyz ready again', async () => (await fetch(`${v.app.url}/api/v1/readyz`)).status === 200, 30_000);
    // The refused camera was never created.
    expect((await v.api('/cameras/cam2')).status).toBe(404);

    await v.app.stop();
    vigil = undefined;
    const { segments, gaps } = readCatalog(dataDir);
    // No hole: one run of back-to-back segments, no gap recorded.
    expect(gaps).toEqual([]);
    for (let i = 1; i < segments.length; i++) expect((segments[i] as { start_ms: number }).start_ms).toBe((segments[i - 1] as { end_ms: number }).end_ms);
    expect(await checkConsistency(dataDir)).toEqual([]);
    for (const m of mounts.reverse()) await unmount(m);
    mounts.length = 0;
    await removeDir(dataDir);
  }, 240_000);
});
