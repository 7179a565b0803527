import type { Logger } from 'pino';
import type { Db } from '../db/connection.js';
import { listCameras, setDemoCamerasEnabled, upsertDeclaredCamera } from '../db/camera.repo.js';
import { RtspServer, rtspServerAvailable } from './rtsp-server.js';

/** The built-in demo: three synthetic cameras served by a real RTSP server (GStreamer). */
export const DEMO_CAMERAS = [
  { id: 'demo-lobby', name: 'Demo · Lobby', pattern: 'ball' },
  { id: 'demo-parking', name: 'Demo · Parking', pattern: 'smpte' },
  { id: 'demo-gate', name: 'Demo · Gate', pattern: 'snow' },
] as const;

export interface Demo {
  server: RtspServer | undefined;
  stop(): Promise<void>;
}

/**
 * With `demo: auto`, the demo runs only while no other camera is configured; with `demo: true` it
 * always runs; with false never. Demo cameras live in the cameras table (origin `demo`) so that
 * their footage has an owner; when the demo is off they are disabled, not deleted.
 */
export async function startDemo(db: Db, mode: 'auto' | boolean, nowMs: number, log: Logger): Promise<Demo> {
  const others = (await listCameras(db)).filter((c) => c.origin !== 'demo');
  const want = mode === true || (mode === 'auto' && others.length === 0);
  if (!want) {
    await setDemoCamerasEnabled(db, false, nowMs);
    return { server: undefined, stop: async () => undefined };
  }
  const available = await rtspServerAvailable();
  if (!available.ok) {
    log.warn({ reason: available.reason }, 'demo cameras unavailable');
    await setDemoCamerasEnabled(db, false, nowMs);
    return { server: undefined, stop: async () => undefined };
  }
  const server = await RtspServer.start({
    mounts: DEMO_CAMERAS.map((c) => ({ name: c.id, pattern: c.pattern, width: 640, height: 360, fps: 15, bitrateKbps: 600 })),
  });
  for (const c of DEMO_CAMERAS) {
    const camera = { id: c.id, name: c.name, mainUrl: server.url(c.id), subUrl: null, enabled: true };
    await upsertDeclaredCamera(db, { ...camera, segmentSeconds: 10, retentionHours: 24, storageQuotaBytes: null }, 'demo', nowMs);
  }
  log.info({ port: server.port, cameras: DEMO_CAMERAS.map((c) => c.id) }, 'demo cameras started (configure a camera to replace them)');
  return { server, stop: () => server.stop() };
}
