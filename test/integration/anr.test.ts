import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { outage, ownAfterEach } from '../support/anr-outage.js';
import { checkConsistency, readCatalog } from '../support/footage.js';
import { waitFor } from '../support/harness.js';

const run = promisify(execFile);
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** A refill that works. The edge's failures are in anr-edge-404 and anr-edge-stall (one file each, so they run in parallel). */
const own = ownAfterEach();

describe('edge-storage backfill (ANR) against a fake edge camera', () => {
  it('refills a 15 s outage from the edge: filled, ≥ 90 % covered, no overlap, no hole, events logged', async () => {
    const { server, vigil, gaps, gap } = await outage({ outageMs: 15_000 });
    own(() => server, vigil);
    // The gap row is updated, then its event written: wait for both.
    const succeeded = () => readCatalog(vigil.dataDir).events.some((e) => e.type === 'gap_refill_succeeded');
    const filled = await waitFor('gap filled', async () => {
      const g = (await gaps()).find((x) => x.id === gap.id);
      return g?.fill_state === 'filled' && succeeded() ? g : undefined;
    }, 90_000).catch(async (err: Error) => {
      // Say why: the gap rows, the refill events and what the fake camera saw.
      const events = readCatalog(vigil.dataDir).events.filter((e) => e.type.startsWith('gap_') || e.type.startsWith('segment_')).map((e) => `${e.type} ${e.payload}`);
      const segs = readCatalog(vigil.dataDir).segments.map((x) => `${x.id} ${x.start_ms}-${x.end_ms} ${x.source} ${x.path}`);
      throw new Error(`${err.message}\n${segs.join('\n')}\n${JSON.stringify(await gaps())}\n${events.join('\n')}\n${JSON.stringify(server.replayEvents('cam1'))}`);
    });
    expect(filled.fill_attempts, 'the attempt that filled it counts').toBe(1);
    const cat = readCatalog(vigil.dataDir);
    const g = cat.gaps[0] as { gap_start_ms: number; gap_end_ms: number };
    const edge = cat.segments.filter((s) => s.source === 'edge');
    expect(edge.length).toBeGreaterThan(0);
    const covered = edge.reduce((sum, s) => sum + Math.min(s.end_ms, g.gap_end_ms) - Math.max(s.start_ms, g.gap_start_ms), 0);
    expect(covered / (g.gap_end_ms - g.gap_start_ms)).toBeGreaterThanOrEqual(0.9);
    const timeline = (await (await vigil.api(`/cameras/cam1/timeline?from=${new Date(g.gap_start_ms - 4000).toISOString()}&to=${new Date(g.gap_end_ms + 4000).toISOString()}`)).json()) as { spans: unknown[] };
    expect(timeline.spans).toHaveLength(1);
    const types = cat.events.filter((e) => e.type.startsWith('gap_refill_'));
    expect(types.map((e) => e.type)).toEqual(['gap_refill_started', 'gap_refill_succeeded']);
    expect(types.every((e) => e.request_id === null)).toBe(true);
    expect(JSON.parse(types[1]!.payload).seconds_recovered).toBeGreaterThan(0.9 * (g.gap_end_ms - g.gap_start_ms) / 1000);
    expect(server.replayEvents('cam1').some((e) => e.event === 'replay')).toBe(true);
    await vigil.app.stop();
    expect(await checkConsistency(vigil.dataDir)).toEqual([]);
    // Live rows and the refill (which starts inside its file) are placed where their files hold the footage.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check', '--data', vigil.dataDir], { cwd: ROOT });
    expect(stdout).toContain('no problems');
    expect(stdout).not.toContain('not readable');
  });
});
