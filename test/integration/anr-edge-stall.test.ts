import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { outage, ownAfterEach } from '../support/anr-outage.js';
import { checkConsistency, readCatalog } from '../support/footage.js';
import { ffmpegPidsFor, waitFor } from '../support/harness.js';

const own = ownAfterEach();

describe('edge-storage backfill (ANR) against a fake edge camera', () => {
  it('an edge that stalls: the refill is killed by its timeout, nothing partial is indexed, no ffmpeg is left, and the gap is retried', async () => {
    const { server, vigil, gaps, gap } = await outage({
      outageMs: 6_000,
      stalled: true,
      // An attempt already in flight when the edge recovers may still time out; leave room for it.
      anr: { timeout_margin_seconds: 3, backoff_initial_ms: 500, backoff_max_ms: 1000, max_attempts: 10 },
    });
    own(() => server, vigil);
    const retried = await waitFor('a timed-out attempt', async () => {
      const g = (await gaps()).find((x) => x.id === gap.id);
      return g && g.fill_attempts >= 1 ? g : undefined;
    }, 60_000);
    expect(retried.last_error).toMatch(/timed out/);
    expect(readCatalog(vigil.dataDir).segments.filter((s) => s.source === 'edge')).toEqual([]);
    const names = await readdir(join(vigil.dataDir, 'recordings', 'cam1'));
    expect(names.filter((n) => n.startsWith('.refill-') && !n.endsWith(`-${gap.id}.part`))).toEqual([]);
    await server.stallReplays(false);
    const filled = await waitFor('gap filled on retry', async () => {
      const g = (await gaps()).find((x) => x.id === gap.id);
      return g?.fill_state === 'filled' ? g : undefined;
    }, 90_000);
    expect(filled.fill_attempts).toBeGreaterThanOrEqual(2);
    expect(await ffmpegPidsFor(join(vigil.dataDir, 'recordings', 'cam1', '.refill-'))).toEqual([]);
    await vigil.app.stop();
    expect((await readdir(join(vigil.dataDir, 'recordings', 'cam1'))).filter((n) => n.endsWith('.part'))).toEqual([]);
    expect(await checkConsistency(vigil.dataDir)).toEqual([]);
  });
});
