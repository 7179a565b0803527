import { execFile } from 'node:child_process';
import { mkdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { checkConsistency, readCatalog } from '../support/footage.js';
import { removeDir, startVigil, tempDir } from '../support/harness.js';

const run = promisify(execFile);

/** A real fragmented MP4 (1 s GOP), as the recorder writes them. */
async function makeSegment(path: string, seconds: number): Promise<void> {
  await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=15', '-t', String(seconds), '-c:v', 'libx264', '-g', '15',
    '-pix_fmt', 'yuv420p', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-f', 'mp4', path]);
}

describe('start-up reconciliation of the recordings folder with the catalog', () => {
  it('indexes files a crash left, removes unplayable ones with an event, and reports rows whose file is gone', async () => {
    const dataDir = await tempDir();
    const dir = join(dataDir, 'recordings', 'cam1');
    await mkdir(dir, { recursive: true });
    const whole = join(dir, '20261125T100000Z-runa.mp4');
    const cut = join(dir, '20261125T100010Z-runb.mp4');
    const empty = join(dir, '20261125T100030Z-runc.mp4');
    await makeSegment(whole, 4);
    await makeSegment(cut, 6);
    await truncate(cut, (await stat(cut)).size - 3000); // cut inside the last fragment
    await writeFile(empty, Buffer.from('000000186674797069736f6d0000020069736f6d69736f32', 'hex')); // ftyp only
    const cameras = [{ id: 'cam1', main_url: 'rtsp://127.0.0.1:9/none', enabled: false }];

    let vigil = await startVigil({ dataDir, cameras });
    await vigil.app.stop();
    let cat = readCatalog(dataDir);
    expect(cat.segments.map((s) => [s.path.split('/').pop(), s.source])).toEqual([
      ['20261125T100000Z-runa.mp4', 'recovered'],
      ['20261125T100010Z-runb.mp4', 'recovered'],
    ]);
    const [a, b] = cat.segments as [(typeof cat.segments)[0], (typeof cat.segments)[0]];
    expect(a.start_ms).toBe(Date.UTC(2026, 10, 25, 10, 0, 0));
    expect(a.duration_ms).toBe(4000);
    expect(b.start_ms).toBe(Date.UTC(2026, 10, 25, 10, 0, 10));
    expect(b.duration_ms).toBe(5000); // the cut last fragment is dropped, the five whole ones kept
    expect(cat.gaps).toHaveLength(1); // 10:00:04 → 10:00:10
    expect(cat.events.filter((e) => e.type === 'segment_recovered')).toHaveLength(2);
    expect(cat.events.filter((e) => e.type === 'segment_discarded')).toHaveLength(1);
    expect(await checkConsistency(dataDir)).toEqual([]);

    // A second start changes nothing: no duplicate rows, gaps or events.
    vigil = await startVigil({ dataDir, cameras });
    await vigil.app.stop();
    const again = readCatalog(dataDir);
    expect(again.segments).toEqual(cat.segments);
    expect(again.gaps).toEqual(cat.gaps);
    expect(again.events.filter((e) => e.type.startsWith('segment_'))).toHaveLength(3);

    // A row whose file vanished is reported, not silently dropped.
    await rm(join(dataDir, a.path));
    vigil = await startVigil({ dataDir, cameras });
    await vigil.app.stop();
    cat = readCatalog(dataDir);
    const missing = cat.events.filter((e) => e.type === 'segment_missing');
    expect(missing).toHaveLength(1);
    expect(JSON.parse(missing[0]!.payload)).toMatchObject({ path: a.path });
    await removeDir(dataDir);
  });

  it('indexes a file a crash left under the name ffmpeg gave it, renamed to its start (the run\'s start)', async () => {
    const dataDir = await tempDir();
    const dir = join(dataDir, 'recordings', 'cam1');
    await mkdir(dir, { recursive: true });
    const runStartMs = Date.UTC(2026, 10, 26, 8, 30, 0, 250);
    const runId = runStartMs.toString(36);
    await makeSegment(join(dir, `${runId}-000000.mp4`), 3);
    const cameras = [{ id: 'cam1', main_url: 'rtsp://127.0.0.1:9/none', enabled: false }];
    const vigil = await startVigil({ dataDir, cameras });
    await vigil.app.stop();
    const cat = readCatalog(dataDir);
    expect(cat.segments.map((s) => [s.path.split('/').pop(), s.source, s.start_ms, s.duration_ms])).toEqual([
      [`20261126T083000Z-${runId}-000000.mp4`, 'recovered', runStartMs, 3000],
    ]);
    expect(await checkConsistency(dataDir)).toEqual([]);
    await removeDir(dataDir);
  });
});
