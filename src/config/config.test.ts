import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VigilError } from '../shared/errors.js';
import { buildConfig, loadConfig, type Config, type LoadOptions } from './config.js';

const CWD = '/srv/vigil';

function build(raw: unknown, opts: { env?: NodeJS.ProcessEnv; overrides?: LoadOptions['overrides']; source?: string } = {}): Config {
  return buildConfig(raw, { source: opts.source ?? null, cwd: CWD, env: opts.env ?? {}, overrides: opts.overrides ?? {} });
}

/** The VigilError `fn` throws; fails the test when it throws anything else or nothing. */
function configErrorOf(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VigilError);
    return err as VigilError;
  }
  throw new Error('expected a configuration error, got none');
}

const cam = (extra: Record<string, unknown> = {}) => ({ id: 'front', main_url: 'rtsp://cam.local/stream1', ...extra });

describe('buildConfig defaults', () => {
  it('an empty file gives a data dir of ./vigil-data under cwd and a loopback listen on 8080', () => {
    const c = build({});
    expect(c.dataDir).toBe(join(CWD, 'vigil-data'));
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.cameras).toEqual([]);
    expect(c.source).toBeNull();
    expect(c.tls).toBeNull();
  });

  it('a camera with only id and URL gets 60 s segments, enabled, no sub stream, named by its id', () => {
    const c = build({ cameras: [cam()] });
    expect(c.cameras).toEqual([
      {
        id: 'front',
        name: 'front',
        mainUrl: 'rtsp://cam.local/stream1',
        subUrl: null,
        segmentSeconds: 60,
        retentionHours: null,
        storageQuotaBytes: null,
        enabled: true,
        anr: { enabled: false, replayUrlTemplate: null, timezone: 'UTC', preset: null },
        onvifUrl: null,
        motion: { enabled: false, sensitivity: 50, minAreaPercent: 0.5, fps: 5, masks: [], zones: [], postRollSeconds: 5 },
        retentionHoursMotion: null,
        audio: 'auto',
      },
    ]);
  });

  it('audio: auto by default, off as written; anything else refused naming the field', () => {
    expect(build({ cameras: [{ ...cam(), audio: 'off' }] }).cameras[0]!.audio).toBe('off');
    expect(configErrorOf(() => build({ cameras: [{ ...cam(), audio: 'on' }] })).field).toBe('cameras[0].audio');
  });

  it('motion: settings kept as written over the defaults; bad ones refused naming the field', () => {
    const porch = { name: 'porch', polygon: [[0.5, 0.5], [1, 0.5], [1, 1], [0.5, 1]] };
    const c = build({ cameras: [{ ...cam(), retention_hours: 24, retention_hours_motion: 72, motion: { enabled: true, sensitivity: 80, masks: [[[0, 0], [0.3, 0], [0.3, 0.15]]], zones: [porch] } }] });
    expect(c.cameras[0]!.motion).toEqual({
      enabled: true, sensitivity: 80, minAreaPercent: 0.5, fps: 5, masks: [[[0, 0], [0.3, 0], [0.3, 0.15]]], zones: [porch], postRollSeconds: 5,
    });
    expect(c.cameras[0]!.retentionHoursMotion).toBe(72);
    const field = (motion: unknown, extra: Record<string, unknown> = {}) => configErrorOf(() => build({ cameras: [{ ...cam(), motion, ...extra }] })).field;
    expect(field({ zones: [{ name: 'a', polygon: [[0, 0], [1.5, 0], [1, 1]] }] })).toBe('cameras[0].motion.zones[0].polygon[1][0]');
    expect(field({ zones: [{ name: 'a', polygon: [] }] })).toBe('cameras[0].motion.zones[0].polygon');
    expect(field({ zones: [{ name: 'a', polygon: [[0, 0], [0.5, 0.5], [1, 1]] }] })).toBe('cameras[0].motion.zones[0].polygon');
    expect(field({ zones: [porch, porch] })).toBe('cameras[0].motion.zones[1].name');
    expect(field({ masks: [[[0.1, 0.1], [0.1, 0.1], [0.1, 0.1]]] })).toBe('cameras[0].motion.masks[0]');
    expect(field({ threshold: 3 })).toBe('cameras[0].motion.threshold');
    expect(field({ sensitivity: 0 })).toBe('cameras[0].motion.sensitivity');
    expect(field({ fps: 30 })).toBe('cameras[0].motion.fps');
    expect(field({}, { retention_hours_motion: 48 })).toBe('cameras[0].retention_hours_motion');
    expect(field({}, { retention_hours: 48, retention_hours_motion: 24 })).toBe('cameras[0].retention_hours_motion');
  });

  it('site.time_zone: an IANA zone kept as spelled, the server\'s by default, anything else refused naming the field', () => {
    expect(build({ site: { time_zone: 'Asia/Kolkata' } }).site).toEqual({ timeZone: 'Asia/Kolkata' });
    expect(build({}).site.timeZone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    const err = configErrorOf(() => build({ site: { time_zone: 'Mars/Olympus_Mons' } }));
    expect(err.field).toBe('site.time_zone');
    expect(err.message).toContain('not an IANA time zone');
    expect(configErrorOf(() => build({ site: { zone: 'UTC' } })).field).toBe('site.zone');
  });

  it('onvif: the camera clock check runs hourly by default, 0 disables it, and a camera onvif_url must be http(s)', () => {
    expect(build({}).onvif).toEqual({ clockCheckIntervalSeconds: 3600 });
    expect(build({ onvif: { clock_check_interval_seconds: 0 } }).onvif.clockCheckIntervalSeconds).toBe(0);
    expect(configErrorOf(() => build({ onvif: { clock_check_interval_seconds: -1 } })).field).toBe('onvif.clock_check_interval_seconds');
    expect(build({ cameras: [cam({ onvif_url: 'http://admin:pw@192.0.2.10/onvif/device_service' })] }).cameras[0]?.onvifUrl).toBe('http://admin:pw@192.0.2.10/onvif/device_service');
    expect(configErrorOf(() => build({ cameras: [cam({ onvif_url: 'file:///etc/passwd' })] })).field).toBe('cameras[0].onvif_url');
  });

  it('backup: none without the section; every 24 h keeping 7 by default; dir resolved against cwd; bounds named by field', () => {
    expect(build({}).backup).toBeNull();
    expect(build({ backup: { dir: 'backups' } }).backup).toEqual({ dir: join(CWD, 'backups'), everyHours: 24, keep: 7 });
    expect(build({ backup: { dir: '/mnt/b', every_hours: 720, keep: 1000 } }).backup).toEqual({ dir: '/mnt/b', everyHours: 720, keep: 1000 });
    expect(configErrorOf(() => build({ backup: { dir: '/mnt/b', every_hours: 0 } })).field).toBe('backup.every_hours');
    expect(configErrorOf(() => build({ backup: { dir: '/mnt/b', every_hours: 721 } })).field).toBe('backup.every_hours');
    expect(configErrorOf(() => build({ backup: { dir: '/mnt/b', keep: 0 } })).field).toBe('backup.keep');
    expect(configErrorOf(() => build({ backup: { dir: '/mnt/b', keep: 1001 } })).field).toBe('backup.keep');
    expect(configErrorOf(() => build({ backup: { every_hours: 1 } })).field).toBe('backup.dir');
  });

  it('edge replay (anr) has a concurrency of 2, 5 attempts and a 60 s settle delay by default', () => {
    expect(build({}).anr).toEqual({
      maxConcurrent: 2,
      maxAttempts: 5,
      settleSeconds: 60,
      scanIntervalSeconds: 60,
      backoffInitialMs: 60_000,
      backoffMaxMs: 3_600_000,
      timeoutMarginSeconds: 30,
      batchSize: 20,
    });
  });

  it('a relative data_dir in the file is resolved against cwd; an absolute one is kept', () => {
    expect(build({ data_dir: 'footage' }).dataDir).toBe(join(CWD, 'footage'));
    expect(build({ data_dir: '/mnt/nvr' }).dataDir).toBe('/mnt/nvr');
  });

  it('the result is deeply frozen', () => {
    const c = build({ cameras: [cam()] });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.listen)).toBe(true);
    expect(Object.isFrozen(c.recorder)).toBe(true);
    expect(Object.isFrozen(c.cameras)).toBe(true);
    expect(Object.isFrozen(c.cameras[0])).toBe(true);
    expect(() => {
      (c as { dataDir: string }).dataDir = '/elsewhere';
    }).toThrow(TypeError);
  });
});

describe('media.warm_decoders', () => {
  it('keeps one snapshot decoder warm by default; 0 turns them off; more than 8 or a fraction is refused', () => {
    expect(build({}).media.warmDecoders).toBe(1);
    expect(build({ media: { warm_decoders: 0 } }).media.warmDecoders).toBe(0);
    expect(build({ media: { warm_decoders: 3 } }).media.warmDecoders).toBe(3);
    for (const bad of [9, -1, 1.5]) expect(configErrorOf(() => build({ media: { warm_decoders: bad } })).field).toBe('media.warm_decoders');
  });
});

describe('buildConfig precedence: CLI over environment over file', () => {
  const file = { data_dir: '/from-file', listen: '127.0.0.1:1111' };
  const env = { VIGIL_DATA_DIR: '/from-env', VIGIL_LISTEN: '127.0.0.2:2222' };

  it('environment overrides the file', () => {
    const c = build(file, { env });
    expect(c.dataDir).toBe('/from-env');
    expect(c.listen).toEqual({ host: '127.0.0.2', port: 2222 });
  });

  it('CLI overrides win over the environment', () => {
    const c = build(file, { env, overrides: { dataDir: '/from-cli', listen: '127.0.0.3:3333' } });
    expect(c.dataDir).toBe('/from-cli');
    expect(c.listen).toEqual({ host: '127.0.0.3', port: 3333 });
  });

  it('an absent CLI flag (undefined) falls back to the environment', () => {
    const c = build(file, { env, overrides: { dataDir: undefined, listen: undefined } });
    expect(c.dataDir).toBe('/from-env');
    expect(c.listen.port).toBe(2222);
  });

  it('a relative VIGIL_DATA_DIR is resolved against cwd', () => {
    expect(build({}, { env: { VIGIL_DATA_DIR: 'rel/data' } }).dataDir).toBe(join(CWD, 'rel/data'));
  });
});

describe('buildConfig errors name the field', () => {
  it('an unknown camera key is named cameras[0].bogus', () => {
    const err = configErrorOf(() => build({ cameras: [cam({ bogus: 1 })] }));
    expect(err.kind).toBe('invalid_argument');
    expect(err.field).toBe('cameras[0].bogus');
    expect(err.message).toContain('cameras[0].bogus: unknown field');
  });

  it('an unknown key whose value is an object is named itself, not one of its children', () => {
    const nested = configErrorOf(() => build({ cameras: [cam({ bogus: { x: 1 } })] }));
    expect(nested.field).toBe('cameras[0].bogus');
    expect(nested.message).toContain('unknown field');
    const topLevel = configErrorOf(() => build({ recorders: { ffmpeg_path: '/usr/bin/ffmpeg' } }));
    expect(topLevel.field).toBe('recorders');
  });

  it('a file that is a list, not a mapping, is reported as such at the root', () => {
    const err = configErrorOf(() => build([1, 2]));
    expect(err.field).toBe('(root)');
    expect(err.message).toMatch(/expected object/i);
  });

  it('the file path prefixes the message when the config came from a file', () => {
    const err = configErrorOf(() => build({ bogus: 1 }, { source: '/etc/vigil.yml' }));
    expect(err.field).toBe('bogus');
    expect(err.message).toContain('/etc/vigil.yml: bogus');
  });

  it.each([1, 3601])('segment_seconds %i on the second camera is refused as cameras[1].segment_seconds', (n) => {
    const err = configErrorOf(() => build({ cameras: [cam(), cam({ id: 'back', segment_seconds: n })] }));
    expect(err.field).toBe('cameras[1].segment_seconds');
  });

  it.each([2, 3600])('segment_seconds %i is accepted', (n) => {
    expect(build({ cameras: [cam({ segment_seconds: n })] }).cameras[0]?.segmentSeconds).toBe(n);
  });

  it('a non-integer segment_seconds is refused', () => {
    expect(configErrorOf(() => build({ cameras: [cam({ segment_seconds: 2.5 })] })).field).toBe('cameras[0].segment_seconds');
  });

  it.each(['http://cam.local/stream', 'rtsp://cam.local/a b', 'rtsp://cam\n.local', 'file:///etc/passwd', '-i rtsp://x'])(
    'main_url %j is refused as cameras[0].main_url',
    (url) => {
      expect(configErrorOf(() => build({ cameras: [cam({ main_url: url })] })).field).toBe('cameras[0].main_url');
    },
  );

  it('camera edge replay settings are read and checked, errors naming cameras[i].field', () => {
    const c = build({ cameras: [cam({ anr_enabled: true, anr_preset: 'dahua', anr_timezone: 'Europe/Berlin' })] });
    expect(c.cameras[0]?.anr).toEqual({ enabled: true, replayUrlTemplate: null, timezone: 'Europe/Berlin', preset: 'dahua' });
    expect(configErrorOf(() => build({ cameras: [cam({ anr_enabled: true })] })).field).toBe('cameras[0].anr_enabled');
    expect(configErrorOf(() => build({ cameras: [cam({ anr_timezone: 'Nowhere/Land' })] })).field).toBe('cameras[0].anr_timezone');
    const bad = configErrorOf(() => build({ cameras: [cam(), { id: 'b', main_url: 'rtsp://h/b', anr_replay_url_template: 'rtsp://h/{nope}' }] }));
    expect(bad.field).toBe('cameras[1].anr_replay_url_template');
    expect(bad.message).toMatch(/\{nope\}/);
    expect(configErrorOf(() => build({ anr: { max_concurrent: 0 } })).field).toBe('anr.max_concurrent');
  });

  it('rtsps:// is accepted', () => {
    expect(build({ cameras: [cam({ main_url: 'rtsps://u:p@cam/x' })] }).cameras[0]?.mainUrl).toBe('rtsps://u:p@cam/x');
  });

  it('a missing main_url is reported on cameras[0].main_url', () => {
    expect(configErrorOf(() => build({ cameras: [{ id: 'front' }] })).field).toBe('cameras[0].main_url');
  });

  it.each(['Front Door', '../x', 'UPPER', '-leading-dash', '', 'a'.repeat(64), 'a/b'])('camera id %j is refused', (id) => {
    expect(configErrorOf(() => build({ cameras: [cam({ id })] })).field).toBe('cameras[0].id');
  });

  it('a duplicate camera id is refused on the second occurrence', () => {
    const err = configErrorOf(() => build({ cameras: [cam(), cam({ id: 'back' }), cam()] }));
    expect(err.field).toBe('cameras[2].id');
    expect(err.message).toContain('duplicate');
  });

  it.each(['0.0.0.0:8080', '192.168.1.10:8080', '[::]:8080', 'example.com:80'])(
    'a non-loopback listen %s is accepted by the file (start-up refuses it while no user exists)',
    (listen) => {
      expect(build({ listen }).listen.port).toBeGreaterThan(0);
    },
  );

  it('tls paths resolve against the working directory; auth defaults are the documented ones', () => {
    const c = build({ tls: { cert: 'c.pem', key: '/etc/k.pem' } });
    expect(c.tls?.keyPath).toBe('/etc/k.pem');
    expect(c.tls?.certPath.endsWith('/c.pem')).toBe(true);
    expect(c.auth).toEqual({ sessionIdleMinutes: 720, sessionMaxHours: 168, lockoutFailures: 5, lockoutMinutes: 15, loginRatePerMinute: 20 });
  });

  it('a tls section without its key is refused naming the field', () => {
    expect(configErrorOf(() => build({ tls: { cert: 'c.pem' } })).field).toBe('tls.key');
  });

  it.each(['127.0.0.2:9000', 'localhost:80', '[::1]:8080'])('loopback listen %s is accepted', (listen) => {
    expect(() => build({ listen })).not.toThrow();
  });

  it('an IPv6 loopback listen keeps the host without brackets', () => {
    expect(build({ listen: '[::1]:8443' }).listen).toEqual({ host: '::1', port: 8443 });
  });

  it.each(['8080', 'localhost', '127.0.0.1:', '127.0.0.1:65536', '127.0.0.1:http', ':8080', '127.0.0.1:8080:1'])(
    'bad listen string %j is refused naming listen',
    (listen) => {
      const err = configErrorOf(() => build({ listen }));
      expect(err.field).toBe('listen');
      expect(err.message).toContain('host:port');
    },
  );
});

describe('loadConfig', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-config-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('an explicit config path that does not exist is an error that says the file was not found', () => {
    const err = configErrorOf(() => loadConfig({ configPath: 'missing.yml', cwd: dir, env: {} }));
    expect(err.kind).toBe('invalid_argument');
    expect(err.message).toContain('not found');
    expect(err.message).toContain(join(dir, 'missing.yml'));
  });

  it('a file that is not valid YAML is an error that says so', async () => {
    await writeFile(join(dir, 'bad.yml'), 'cameras: [\n  - id: front\n    main_url: "unterminated\n');
    const err = configErrorOf(() => loadConfig({ configPath: 'bad.yml', cwd: dir, env: {} }));
    expect(err.message).toContain('not valid YAML');
    expect(err.message).toContain(join(dir, 'bad.yml'));
  });

  it('without a file and without --config the defaults apply and there is no source', () => {
    const c = loadConfig({ cwd: dir, env: {} });
    expect(c.source).toBeNull();
    expect(c.dataDir).toBe(join(dir, 'vigil-data'));
  });

  it('./vigil.yml is read when present and its path is the source', async () => {
    await writeFile(join(dir, 'vigil.yml'), 'data_dir: footage\ncameras:\n  - id: yard\n    main_url: rtsp://10.0.0.5/live\n');
    const c = loadConfig({ cwd: dir, env: {} });
    expect(c.source).toBe(join(dir, 'vigil.yml'));
    expect(c.dataDir).toBe(join(dir, 'footage'));
    expect(c.cameras.map((x) => x.id)).toEqual(['yard']);
  });

  it('an empty file is an empty config', async () => {
    await writeFile(join(dir, 'vigil.yml'), '');
    expect(loadConfig({ cwd: dir, env: {} }).listen.port).toBe(8080);
  });

  it('a schema error in a file names the file and the field', async () => {
    await writeFile(join(dir, 'v.yml'), 'cameras:\n  - id: yard\n    main_url: http://10.0.0.5/live\n');
    const err = configErrorOf(() => loadConfig({ configPath: 'v.yml', cwd: dir, env: {} }));
    expect(err.field).toBe('cameras[0].main_url');
    expect(err.message).toContain(join(dir, 'v.yml'));
  });

  it('CLI overrides passed to loadConfig win over the file', async () => {
    await writeFile(join(dir, 'vigil.yml'), 'listen: 127.0.0.1:1111\n');
    const c = loadConfig({ cwd: dir, env: { VIGIL_LISTEN: '127.0.0.1:2222' }, overrides: { listen: '127.0.0.1:3333' } });
    expect(c.listen.port).toBe(3333);
  });
});

describe('evidence settings', () => {
  it('default to a key and an exports folder in the data dir, one export job at a time, a day per export', () => {
    const c = build({});
    expect(c.evidence).toEqual({ signingKeyPath: '/srv/vigil/vigil-data/keys/signing-key.pem', exportsDir: '/srv/vigil/vigil-data/exports', maxExportJobs: 1, exportMaxSeconds: 86_400 });
    expect(build({ evidence: { signing_key_path: 'k.pem', exports_dir: '/x' } }).evidence).toMatchObject({ signingKeyPath: '/srv/vigil/k.pem', exportsDir: '/x' });
  });

  it('refuses a bad value or an unknown key, naming it', () => {
    expect(configErrorOf(() => build({ evidence: { max_export_jobs: 0 } })).field).toBe('evidence.max_export_jobs');
    expect(configErrorOf(() => build({ evidence: { export_max_seconds: 'long' } })).field).toBe('evidence.export_max_seconds');
    expect(configErrorOf(() => build({ evidence: { signing_key_path: '' } })).field).toBe('evidence.signing_key_path');
    expect(configErrorOf(() => build({ evidence: { key: 'x' } })).field).toBe('evidence.key');
  });
});

describe('metrics settings', () => {
  it('scraping /metrics needs an identity by default; public: true opens it', () => {
    expect(build({}).metrics).toEqual({ public: false });
    expect(build({ metrics: {} }).metrics).toEqual({ public: false });
    expect(build({ metrics: { public: true } }).metrics).toEqual({ public: true });
  });

  it('refuses a non-boolean public or an unknown key, naming it', () => {
    const err = configErrorOf(() => build({ metrics: { public: 'yes' } }));
    expect(err.field).toBe('metrics.public');
    expect(err.message).toContain('metrics.public');
    expect(configErrorOf(() => build({ metrics: { path: '/m' } })).field).toBe('metrics.path');
  });
});

describe('recorder.freeze_seconds (the silence watch)', () => {
  it('defaults to 5 s and takes 2 to 300', () => {
    expect(build({}).recorder.freezeSeconds).toBe(5);
    expect(build({ recorder: { freeze_seconds: 2 } }).recorder.freezeSeconds).toBe(2);
    expect(build({ recorder: { freeze_seconds: 300 } }).recorder.freezeSeconds).toBe(300);
  });

  it.each([1, 301, 2.5, 'five'])('refuses %j, naming recorder.freeze_seconds', (v) => {
    expect(configErrorOf(() => build({ recorder: { freeze_seconds: v } })).field).toBe('recorder.freeze_seconds');
  });
});

describe('cluster configuration', () => {
  const catalog = { url: 'postgres://vigil@db/vigil' };
  const cluster = (extra: Record<string, unknown> = {}) => ({ node_id: 'rec-1', url: 'http://10.0.0.1:8080', ...extra });

  it('defaults: capacity 64, a 15 s lease renewed every 5 s, 2 GiB of peer files; the environment names the node', () => {
    expect(build({ catalog, cluster: cluster() }).cluster).toEqual({ nodeId: 'rec-1', url: 'http://10.0.0.1:8080', capacity: 64, leaseTtlMs: 15_000, heartbeatMs: 5000, cacheBytes: 2048 * 1024 * 1024 });
    expect(build({ catalog, cluster: cluster({ url: 'http://h:1/' }) }, { env: { VIGIL_NODE_ID: 'rec-9' } }).cluster).toMatchObject({ nodeId: 'rec-9', url: 'http://h:1' });
    expect(build({}).cluster).toBeNull();
  });

  it('refuses what cannot work, naming the field', () => {
    expect(configErrorOf(() => build({ cluster: cluster() })).field).toBe('cluster');
    expect(configErrorOf(() => build({ catalog, cluster: cluster({ lease_ttl_seconds: 6, heartbeat_seconds: 6 }) })).field).toBe('cluster.heartbeat_seconds');
    expect(configErrorOf(() => build({ catalog, cluster: cluster({ node_id: 'Rec 1' }) })).field).toBe('cluster.node_id');
    expect(configErrorOf(() => build({ catalog, cluster: cluster() }, { env: { VIGIL_NODE_ID: '../x' } })).field).toBe('cluster.node_id');
    expect(configErrorOf(() => build({ catalog, cluster: cluster({ url: 'ftp://x' }) })).field).toBe('cluster.url');
    expect(configErrorOf(() => build({ catalog, cluster: cluster({ lease_ttl_seconds: 1 }) })).field).toBe('cluster.lease_ttl_seconds');
    expect(configErrorOf(() => build({ catalog, cluster: cluster({ bogus: 1 }) })).field).toMatch(/^cluster/);
  });
});
