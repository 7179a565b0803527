import { describe, expect, it } from 'vitest';
import { outage, ownAfterEach, type GapJson } from '../support/anr-outage.js';
import { readCatalog } from '../support/footage.js';
import { waitFor } from '../support/harness.js';

const own = ownAfterEach();

describe('edge-storage backfill (ANR) against a fake edge camera', () => {
  it('an edge that answers 404: attempts back off, the gap fails after the maximum, and a manual refill re-queues it', async () => {
    const { server, vigil, gaps, gap } = await outage({
      outageMs: 6_000,
      edgeSinceAfterOutage: true,
      anr: { max_attempts: 2, backoff_initial_ms: 300, backoff_max_ms: 1000 },
    });
    own(() => server, vigil);
    const failed = await waitFor('gap failed', async () => {
      const g = (await gaps()).find((x) => x.id === gap.id);
      return g?.fill_state === 'failed' ? g : undefined;
    }, 60_000);
    expect(failed.fill_attempts).toBe(2);
    expect(failed.last_error).toMatch(/404|not found/i);
    const failures = readCatalog(vigil.dataDir).events.filter((e) => e.type === 'gap_refill_failed');
    expect(failures).toHaveLength(2);
    expect(failures.every((e) => e.request_id === null && JSON.parse(e.payload).reason)).toBe(true);
    expect(JSON.parse(failures[0]!.payload).next_attempt_at).toBeTruthy();
    expect(server.replayEvents('cam1').some((e) => e.event === 'replay_refused')).toBe(true);

    const res = await vigil.api(`/cameras/cam1/gaps/${gap.id}/refill`, { method: 'POST' });
    expect(res.status).toBe(202);
    const body = (await res.json()) as GapJson;
    expect(body.fill_attempts).toBe(0);
    expect(['pending', 'filling']).toContain(body.fill_state);
    const requested = readCatalog(vigil.dataDir).events.find((e) => e.type === 'gap_refill_requested');
    expect(requested?.request_id).toBe(res.headers.get('x-request-id'));
    await waitFor('tried again', async () => readCatalog(vigil.dataDir).events.filter((e) => e.type === 'gap_refill_failed').length >= 3, 30_000);
  });
});
