/**
 * An H.265 camera's gap refilled from its edge storage: the edge stream (written as hev1 by ffmpeg) is
 * stored with the hvc1 entry its live files have, so its rows say hvc1 and a clip across the live and
 * the edge footage is one hvc1 file that decodes.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { outage, ownAfterEach } from '../support/anr-outage.js';
import { querySql, readCatalog } from '../support/footage.js';
import { waitFor } from '../support/harness.js';

const run = promisify(execFile);
const own = ownAfterEach();

describe('an H.265 camera\'s gap refilled from its edge', () => {
  it('stores the edge footage as hvc1, and a clip across live and edge footage is one hvc1 file', async () => {
    const { server, vigil, gaps, gap } = await outage({ outageMs: 8_000, codec: 'h265' });
    own(() => server, vigil);
    await waitFor('gap filled', async () => (await gaps()).find((x) => x.id === gap.id)?.fill_state === 'filled', 90_000);
    const rows = querySql(vigil.dataDir, "SELECT source, codec, path, start_ms, end_ms FROM segments WHERE camera_id = 'cam1' ORDER BY start_ms") as Array<{ source: string; codec: string; path: string; start_ms: number; end_ms: number }>;
    const edge = rows.filter((r) => r.source === 'edge');
    expect(edge.length).toBeGreaterThan(0);
    for (const r of rows) expect(r.codec).toMatch(/^hvc1\./);
    for (const r of edge) {
      const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_tag_string', '-of', 'csv=p=0', join(vigil.dataDir, r.path)]);
      expect(stdout.trim()).toBe('hvc1');
    }
    // From the last live second before the gap to the first after it.
    const g = readCatalog(vigil.dataDir).gaps[0] as { gap_start_ms: number; gap_end_ms: number };
    const from = new Date(g.gap_start_ms - 1000).toISOString();
    const to = new Date(g.gap_end_ms + 1000).toISOString();
    const res = await fetch(`${vigil.app.url}/api/v1/cameras/cam1/clip.mp4?from=${from}&to=${to}`, { headers: vigil.auth });
    expect(res.status).toBe(200);
    const clip = join(vigil.dataDir, 'clip.mp4');
    await writeFile(clip, Buffer.from(await res.arrayBuffer()));
    const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,codec_tag_string', '-of', 'csv=p=0', clip]);
    expect(stdout.trim()).toBe('hevc,hvc1');
    // Every frame decodes: at least 90 % of the range's frames (the refill covers ≥ 90 % of the gap).
    // (ffmpeg's null muxer warns of one repeated dts where the edge file joins the live one: H.264
    // clips across a refill do the same.)
    const { stdout: frames } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', clip]);
    expect(Number(frames.trim())).toBeGreaterThanOrEqual(0.9 * ((g.gap_end_ms - g.gap_start_ms + 2000) / 1000) * 15);
  });
});
