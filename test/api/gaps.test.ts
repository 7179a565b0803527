import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertRecordingGap } from '../../src/db/gap.repo.js';
import { injectVigil, type InjectVigil } from '../support/http-inject.js';

const T0 = Date.UTC(2026, 11, 1, 9, 0, 0);
let vigil: InjectVigil;

beforeAll(async () => {
  vigil = await injectVigil({ cameras: [{ id: 'plain', main_url: 'rtsp://cam.example/stream', enabled: false }] });
});
afterAll(() => vigil?.close());

describe('gaps on a camera without edge replay', () => {
  it('say not_applicable (not pending), refuse a manual refill, and become pending once edge replay is configured', async () => {
    const gap = (await upsertRecordingGap(vigil.app.db, 'plain', T0, T0 + 60_000, T0 + 60_000))!;
    const list = async () => (await vigil.api('GET', '/cameras/plain/gaps')).json.gaps as Array<{ id: number; fill_state: string }>;
    expect((await list()).map((g) => [g.id, g.fill_state])).toEqual([[gap.id, 'not_applicable']]);
    const timeline = await vigil.api('GET', `/cameras/plain/timeline?from=${new Date(T0 - 1000).toISOString()}&to=${new Date(T0 + 61_000).toISOString()}`);
    expect((timeline.json.gaps as Array<{ fill_state: string }>).map((g) => g.fill_state)).toEqual(['not_applicable']);
    const refill = await vigil.api('POST', `/cameras/plain/gaps/${gap.id}/refill`);
    expect([refill.status, refill.json.field]).toEqual([409, 'gapId']);
    expect(refill.json.message).toMatch(/no edge replay/);
    const patched = await vigil.api('PATCH', '/cameras/plain', { body: { anr_enabled: true, anr_preset: 'hikvision' } });
    expect(patched.status, patched.text).toBe(200);
    // The replay URL the preset stands for is shown, so an operator can check it against the camera.
    expect(patched.json.anr_replay_url_effective).toBe('rtsp://{host}:{port}/stream/Streaming/tracks/101?starttime={start:iso_basic_z}&endtime={end:iso_basic_z}');
    expect((await list()).map((g) => g.fill_state)).toEqual(['pending']);
  });
});
