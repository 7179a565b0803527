import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { RtspServer } from '../../src/demo/rtsp-server.js';
import { startChildVigil, type ChildVigil } from '../support/child-vigil.js';
import { checkConsistency, querySql, readCatalog } from '../support/footage.js';
import { ffmpegPidsFor, removeDir, tempDir, waitFor } from '../support/harness.js';

const recorder = { rtsp_timeout_seconds: 3, backoff_initial_ms: 500, backoff_max_ms: 2000 };

/** The pid of the one ffmpeg recording `cameraId` (none: undefined). */
async function recorderPid(dataDir: string, cameraId: string): Promise<number | undefined> {
  const pids = await ffmpegPidsFor(`${join(dataDir, 'recordings', cameraId)}/`);
  expect(pids.length).toBeLessThanOrEqual(1);
  return pids[0];
}

/** Rewrites the file the child Vigil was started with (same defaults as startChildVigil) and sends SIGHUP. */
async function reloadWith(vigil: ChildVigil, dataDir: string, config: Record<string, unknown> | string): Promise<void> {
  const path = join(dataDir, '..', `${dataDir.split('/').pop()}.yml`);
  await writeFile(path, typeof config === 'string' ? config : stringify({ demo: false, ...config }));
  vigil.proc.kill('SIGHUP');
}

const eventsOf = (dataDir: string, type: string) =>
  querySql(dataDir, `SELECT severity, camera_id, payload FROM events WHERE type = '${type}' ORDER BY id`) as Array<{ severity: string; camera_id: string | null; payload: string }>;

describe('SIGHUP', () => {
  it('applies camera and retention changes from the file without restarting the recorders that did not change; refuses a bad file changing nothing', async () => {
    const server = await RtspServer.start({ mounts: [{ name: 'keep' }, { name: 'renamed' }, { name: 'change' }, { name: 'gone' }, { name: 'new' }] });
    const dataDir = await tempDir();
    const cam = (id: string, extra: Record<string, unknown> = {}) => ({ id, main_url: server.url(id), segment_seconds: 2, ...extra });
    // A sweep an hour apart: only the reload can make one run now.
    const retention = { min_free_bytes: 0, interval_seconds: 3600 };
    try {
      const vigil = await startChildVigil(dataDir, { cameras: [cam('keep'), cam('renamed'), cam('change'), cam('gone')], recorder, retention });
      const before = new Map<string, number>();
      await waitFor('4 recorders with footage', async () => {
        for (const id of ['keep', 'renamed', 'change', 'gone']) {
          const pid = await recorderPid(dataDir, id);
          if (pid === undefined) return false;
          before.set(id, pid);
        }
        return new Set(readCatalog(dataDir).segments.map((s) => s.camera_id)).size === 4;
      }, 40_000);

      await reloadWith(vigil, dataDir, {
        cameras: [cam('keep'), cam('renamed', { name: 'Renamed camera' }), cam('change', { segment_seconds: 3 }), cam('new')],
        recorder,
        retention: { ...retention, max_bytes: 1 },
        // Needs a restart: reported, not applied.
        media: { max_jobs: 2 },
      });
      const reloaded = await waitFor('config_reloaded', () => eventsOf(dataDir, 'config_reloaded')[0], 20_000);
      expect(JSON.parse(reloaded.payload)).toEqual({
        cameras_added: ['new'],
        cameras_removed: ['gone'],
        cameras_changed: [
          { id: 'renamed', fields: ['name'] },
          { id: 'change', fields: ['segment_seconds'] },
        ],
        retention_changed: true,
        ignored_until_restart: ['media'],
      });
      expect(reloaded.severity).toBe('info');
      await waitFor('the warning naming the ignored key', () => vigil.output().includes('configuration reloaded; ignored until restart: media'), 5000);

      await waitFor('the new camera recording', async () => (await recorderPid(dataDir, 'new')) !== undefined, 20_000);
      await waitFor('the removed camera stopped', async () => (await recorderPid(dataDir, 'gone')) === undefined, 20_000);
      // Its ffmpeg is stopped (last segment indexed) and a new one started with the new segment length.
      await waitFor('the changed camera recording with a new ffmpeg', async () => {
        const pid = await recorderPid(dataDir, 'change');
        return pid !== undefined && pid !== before.get('change');
      }, 20_000);
      // Unchanged cameras (a new name is no reason for a new ffmpeg) keep the very same process.
      expect(await recorderPid(dataDir, 'keep')).toBe(before.get('keep'));
      expect(await recorderPid(dataDir, 'renamed')).toBe(before.get('renamed'));
      const cams = querySql(dataDir, 'SELECT id, name, segment_seconds, deleted_at_ms FROM cameras ORDER BY id') as Array<{ id: string; name: string; segment_seconds: number; deleted_at_ms: number | null }>;
      expect(cams.find((c) => c.id === 'gone')?.deleted_at_ms).not.toBeNull();
      expect(cams.find((c) => c.id === 'renamed')?.name).toBe('Renamed camera');
      expect(cams.find((c) => c.id === 'change')?.segment_seconds).toBe(3);
      expect(eventsOf(dataDir, 'camera_deleted').map((e) => e.camera_id)).toEqual(['gone']);
      expect(eventsOf(dataDir, 'camera_created').map((e) => e.camera_id)).toEqual(['new']);
      // The new retention cap applies at once, not after the old hour-long wait.
      const swept = await waitFor('a sweep under the new cap', () => eventsOf(dataDir, 'retention_deleted')[0], 20_000);
      expect(Object.keys(JSON.parse(swept.payload).by_reason)).toContain('global_cap');

      // A file that does not load: refused, logged naming the field, and nothing changes.
      const pidsBeforeBadReload = new Map<string, number | undefined>();
      for (const id of ['keep', 'renamed', 'change', 'new']) pidsBeforeBadReload.set(id, await recorderPid(dataDir, id));
      await reloadWith(vigil, dataDir, { cameras: [cam('keep', { segment_seconds: 0 })], recorder, retention });
      const failed = await waitFor('config_reload_failed', () => eventsOf(dataDir, 'config_reload_failed')[0], 20_000);
      expect(failed.severity).toBe('warning');
      expect(JSON.parse(failed.payload)).toMatchObject({ field: 'cameras[0].segment_seconds' });
      await waitFor('the refusal logged naming the field', () => /configuration reload refused, nothing changed: invalid configuration: .*cameras\[0\]\.segment_seconds/.test(vigil.output()), 5000);
      await reloadWith(vigil, dataDir, 'cameras: [unclosed');
      await waitFor('the second refusal', () => eventsOf(dataDir, 'config_reload_failed').length === 2, 20_000);
      for (const [id, pid] of pidsBeforeBadReload) expect(await recorderPid(dataDir, id), id).toBe(pid);
      expect(eventsOf(dataDir, 'config_reloaded')).toHaveLength(1);

      expect(await vigil.term()).toBe(0);
      expect(await ffmpegPidsFor(dataDir)).toEqual([]);
      expect(await checkConsistency(dataDir)).toEqual([]);
    } finally {
      await server.stop();
      await removeDir(dataDir);
    }
  });
});

describe('a camera taken out of the file while Vigil was stopped', () => {
  it('is removed at the next start as a reload would remove it: recorder gone, row soft-deleted, event; footage kept', async () => {
    const server = await RtspServer.start({ mounts: [{ name: 'stays' }, { name: 'dropped' }] });
    const dataDir = await tempDir();
    const cam = (id: string) => ({ id, main_url: server.url(id), segment_seconds: 2 });
    try {
      let vigil = await startChildVigil(dataDir, { cameras: [cam('stays'), cam('dropped')], recorder });
      await waitFor('footage of both', () => new Set(readCatalog(dataDir).segments.map((s) => s.camera_id)).size === 2, 40_000);
      expect(await vigil.term()).toBe(0);
      const droppedSegments = readCatalog(dataDir).segments.filter((s) => s.camera_id === 'dropped').length;

      vigil = await startChildVigil(dataDir, { cameras: [cam('stays')], recorder });
      await waitFor('the kept camera recording', async () => (await recorderPid(dataDir, 'stays')) !== undefined, 20_000);
      expect(await recorderPid(dataDir, 'dropped')).toBeUndefined();
      const cams = querySql(dataDir, 'SELECT id, deleted_at_ms FROM cameras ORDER BY id') as Array<{ id: string; deleted_at_ms: number | null }>;
      expect(cams.find((c) => c.id === 'dropped')?.deleted_at_ms).not.toBeNull();
      expect(cams.find((c) => c.id === 'stays')?.deleted_at_ms).toBeNull();
      const deleted = eventsOf(dataDir, 'camera_deleted');
      expect(deleted.map((e) => e.camera_id)).toEqual(['dropped']);
      expect(JSON.parse((deleted[0] as { payload: string }).payload)).toEqual({ origin: 'config' });
      expect(readCatalog(dataDir).segments.filter((s) => s.camera_id === 'dropped')).toHaveLength(droppedSegments);
      expect(await vigil.term()).toBe(0);
    } finally {
      await server.stop();
      await removeDir(dataDir);
    }
  });
});
