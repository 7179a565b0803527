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
const own = ownAfterEach();

describe('edge-storage backfill (ANR) against a fake edge camera', () => {
  it('an edge that holds only part of the gap: partial, retried for the missing part only, and partial (not failed) once the attempts are used', async () => {
    let untilMs = 0;
    const { server, vigil, gaps, gap } = await outage({
      outageMs: 6_000,
      // The card holds nothing from 3 s into the outage on (half a second past a whole second, so the
      // retry's whole second lies before it and the edge answers it, with what little it holds).
      edgeUntil: (goneAtMs) => (untilMs = Math.floor((goneAtMs + 3000) / 1000) * 1000 + 500),
      anr: { max_attempts: 2, backoff_initial_ms: 300, backoff_max_ms: 1000 },
    });
    own(() => server, vigil);
    const outcomes = () => readCatalog(vigil.dataDir).events.filter((e) => /^gap_refill_(succeeded|failed)$/.test(e.type));
    const done = await waitFor('attempts used', async () => {
      const g = (await gaps()).find((x) => x.id === gap.id);
      return g?.fill_attempts === 2 && g.fill_state !== 'filling' && outcomes().length === 2 ? g : undefined;
    }, 90_000);
    expect(done).toMatchObject({ fill_state: 'partial', next_attempt_at: null });
    expect(done.last_error).toMatch(/still missing: \S+–\S+ \(\d+\.\d s\)/);
    const cat = readCatalog(vigil.dataDir);
    const g = cat.gaps.find((x) => x['id'] === gap.id) as { gap_start_ms: number; gap_end_ms: number };
    const edge = cat.segments.filter((s) => s.source === 'edge');
    const first = edge[0]!;
    // From the gap's start exactly: the pull began a whole second or more before it, so even the replay's
    // first frame (shown for a tick only) lies before the gap.
    expect(first.start_ms).toBe(g.gap_start_ms);
    expect(Math.abs(first.end_ms - untilMs), 'the first pull ends where the edge footage ends').toBeLessThan(300);
    // The retry asked the edge only for what was missing, from the whole second at least a second before
    // it, to a second past it.
    const started = cat.events.filter((e) => e.type === 'gap_refill_started').map((e) => JSON.parse(e.payload) as Record<string, unknown>);
    expect(started.map((p) => [p['attempt'], p['span_start'], p['span_end']])).toEqual([
      [1, new Date(g.gap_start_ms).toISOString(), new Date(g.gap_end_ms).toISOString()],
      [2, new Date(first.end_ms).toISOString(), new Date(g.gap_end_ms).toISOString()],
    ]);
    const asked = server.replayEvents('cam1').filter((e) => e.event === 'replay' || e.event === 'replay_refused').map((e) => [e.start_ms, e.end_ms]);
    expect(asked).toEqual([
      [Math.floor((g.gap_start_ms - 1000) / 1000) * 1000, Math.ceil((g.gap_end_ms + 1000) / 1000) * 1000],
      [Math.floor((first.end_ms - 1000) / 1000) * 1000, Math.ceil((g.gap_end_ms + 1000) / 1000) * 1000],
    ]);
    expect(outcomes().map((e) => JSON.parse(e.payload) as Record<string, unknown>)).toMatchObject([
      { attempt: 1, state: 'partial' },
      { attempt: 2, state: 'partial', next_attempt_at: null },
    ]);
    await vigil.app.stop();
    expect(await checkConsistency(vigil.dataDir)).toEqual([]);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check', '--data', vigil.dataDir], { cwd: ROOT });
    expect(stdout).toContain('no problems');
  });
});
