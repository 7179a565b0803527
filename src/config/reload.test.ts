import { describe, expect, it } from 'vitest';
import { buildConfig, type Config } from './config.js';
import { diffConfigs, isUnchanged } from './reload.js';

const load = (raw: unknown, overrides: { listen?: string } = {}): Config => buildConfig(raw, { source: '/etc/vigil/vigil.yml', cwd: '/tmp', env: {}, overrides });

const cam = (id: string, extra: Record<string, unknown> = {}) => ({ id, main_url: `rtsp://127.0.0.1:8554/${id}`, ...extra });

describe('diffConfigs', () => {
  it('sorts cameras into added, removed and changed (with the fields, named as in the file)', () => {
    const before = load({ cameras: [cam('keep'), cam('change'), cam('gone')] });
    const after = load({ cameras: [cam('keep'), cam('change', { segment_seconds: 10, name: 'Yard', sub_url: 'rtsp://127.0.0.1:8554/change-sub' }), cam('new')] });
    const d = diffConfigs(before, after);
    expect(d.added.map((c) => c.id)).toEqual(['new']);
    expect(d.removed).toEqual(['gone']);
    expect(d.changed.map((c) => [c.camera.id, c.fields])).toEqual([['change', ['name', 'sub_url', 'segment_seconds']]]);
    expect(d.retention).toBe(false);
    expect(d.needRestart).toEqual([]);
  });

  it('sees a camera\'s motion settings and motion retention change (the detector follows a reload)', () => {
    const before = load({ cameras: [cam('door', { retention_hours: 24 })] });
    const after = load({ cameras: [cam('door', { retention_hours: 24, retention_hours_motion: 72, motion: { enabled: true, masks: [[[0, 0], [0.3, 0], [0.3, 0.2]]] } })] });
    expect(diffConfigs(before, after).changed.map((c) => c.fields)).toEqual([['motion', 'retention_hours_motion']]);
    expect(isUnchanged(diffConfigs(after, load({ cameras: [cam('door', { retention_hours: 24, retention_hours_motion: 72, motion: { enabled: true, masks: [[[0, 0], [0.3, 0], [0.3, 0.2]]] } })] })))).toBe(true);
  });

  it('sees a retention change, and names the keys that wait for a restart as the file spells them', () => {
    const d = diffConfigs(
      load({ retention: { max_bytes: 10 } }),
      load({ retention: { max_bytes: 20 }, listen: '0.0.0.0:9000', data_dir: '/srv/vigil', recorder: { stop_timeout_ms: 9000 }, log_level: 'debug' }),
    );
    expect(d.retention).toBe(true);
    expect(d.needRestart.sort()).toEqual(['data_dir', 'evidence', 'listen', 'log_level', 'recorder']);
  });

  it('finds nothing when only the order of cameras or a flag-overridden key differs', () => {
    const a = load({ listen: '127.0.0.1:1', cameras: [cam('a'), cam('b')] }, { listen: '127.0.0.1:8080' });
    const b = load({ listen: '127.0.0.1:2', cameras: [cam('b'), cam('a')] }, { listen: '127.0.0.1:8080' });
    expect(isUnchanged(diffConfigs(a, b))).toBe(true);
  });
});
