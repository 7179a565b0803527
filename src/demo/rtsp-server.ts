/**
 * Launcher for scripts/rtsp-server.py: a real RTSP server (GStreamer gst-rtsp-server) serving
 * synthetic H.264 cameras. Used for demo cameras, integration tests and benchmarks.
 *
 * The Python process prints JSON lines on stdout (`ready`, `first_rtp`, `first_keyframe`,
 * `media_unprepared`, `play`); logs go to stderr, of which the tail is kept for error messages.
 *
 * Edge replay (`edge` on a mount): the server also answers camera-style replay requests for the
 * span [edge.sinceMs, now] (see replayUrl()), streaming exactly the requested span at real time and
 * ending it (RTCP BYE, so ffmpeg exits by itself); spans it does not hold get 404 at DESCRIBE.
 * stallReplays(true) freezes replay media mid-stream with the RTSP session left open; freeze(mount,
 * true) does the same to a live mount. jump(mount, ms) steps the RTP timestamps a live mount sends.
 *
 * Motion (`scene: 'still'` on a mount): a still picture with the wall clock burned into its top-left
 * corner; moveObject(mount, rect) makes an object move inside a rectangle of it until
 * moveObject(mount, null), and setBrightness(mount, level, rampMs) ramps the whole picture's brightness
 * (a slow light change, which is not motion). Both resolve with the server's wall-clock ms of the change.
 *
 * Timing notes (gst-rtsp-server 1.22): a live media is prepared on DESCRIBE, so `first_rtp` /
 * `first_keyframe` fire ~50-100 ms *before* the client's PLAY. That prerolled frame is not the first
 * one an ffmpeg client gets: its PLAY (`Range: npt=0.000-`) flushes the media, which restarts, and
 * the first frame delivered is captured as PLAY is handled (measured with `code` mounts: 25-60 ms
 * after `first_rtp`, a few ms before `play`; an edge replay likewise delivers its span from the start
 * but one frame short at the end). ffmpeg's RTSP demuxer then hands that first frame over without a
 * timestamp, and `-c copy` stamps it one tick before the second frame. A client joining an
 * already-running shared media gets no new `first_rtp`, only `play`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const DEFAULT_PYTHON = '/usr/bin/python3';
const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 3_000;
const STDERR_TAIL_BYTES = 8 * 1024;

export interface RtspMountSpec {
  /** Mount path without the leading slash, e.g. `cam1` or `site/cam1`. */
  name: string;
  /** Default 640. */
  width?: number;
  /** Default 360. */
  height?: number;
  /** Default 15. */
  fps?: number;
  /** x264 target bitrate, default 800 kbps. */
  bitrateKbps?: number;
  /** videotestsrc pattern nick (`ball`, `smpte`, `snow`, ...). Default `ball`; `snow` is a realistic high-bitrate load. */
  pattern?: string;
  /** Keyframe interval in frames. Default = fps (1 s GOP). */
  gop?: number;
  /**
   * The video codec: `h264` (x264, the default) or `h265` (x265 in 4:2:0, rtph265pay: VPS/SPS/PPS in
   * the SDP and before each keyframe, edge replays too); `h265` not with `scene` or `sprop: false`.
   */
  codec?: 'h264' | 'h265';
  /** One encoder pipeline shared by all clients of the mount. Default true. */
  shared?: boolean;
  /** Burn the wall clock into the picture (clockoverlay, if installed). Default true. */
  clock?: boolean;
  /**
   * The SDP carries the H.264 parameters (`sprop-parameter-sets`: SPS and PPS). Default true. With
   * false, as cameras whose SDP omits them, SPS and PPS travel only in-band, right before each
   * keyframe, and the mount's media is not seekable, so a client's PLAY joins a running shared
   * stream where it is instead of restarting its encoder at a keyframe: a client joining mid-GOP
   * learns the picture size only at the next keyframe (ffmpeg with a quick probe then fails,
   * `QUICK_PROBE_FAILED`). Make `gop` long and keep a client attached to have others join mid-GOP.
   */
  sprop?: boolean;
  /**
   * A PLAY seeks the mount's media to its start. Default true: gst-rtsp-server then flushes a shared
   * media and restarts its encoder at a keyframe, so every client starts on a keyframe, but each one
   * that joins sets back the RTP timestamps of every client already attached (a backward media-clock
   * leap; Vigil reconnects on one, so many cameras on one mount storm). False: a PLAY joins the running
   * stream where it is, mid-GOP, as clients of a real camera do (the first client still starts the
   * encoder, on a keyframe). Benchmarks with many clients on one shared mount use false.
   */
  seek?: boolean;
  /**
   * Burn the instant each frame shows into it: a QR code near the bottom-right corner holding
   * `VTC:<integer ms since the epoch>` (qroverlay, gstreamer1.0-plugins-bad >= 1.22; test/support/
   * timecode.ts reads it). Live, the frame's capture instant (its running time on the pipeline clock,
   * mapped to the wall clock); from the edge, the replayed span's own instant, start_ms + round(n ×
   * 1000 / fps) for the n-th frame. Needs at least 66×66 pixels. Default false.
   */
  code?: boolean;
  /**
   * `still`: a camera that sees nothing happen, then something, at instants and places a test chooses
   * (motion detection). `pattern` is ignored; `shared`, `seek`, `sprop`, `code`, `width`, `height`, `fps`,
   * `bitrateKbps` and `gop` apply as on any mount. The picture is the same frame every frame (75 % colour
   * bars: only the encoder's noise differs) but for:
   * - the clock (with `clock`, the default; needs at least 320×180): the wall clock, `HH:MM:SS.mmm` of
   *   each frame's capture instant, burned in as a camera's OSD timestamp. It changes in every frame and
   *   always lies inside the TOP-LEFT 30 % × 15 % of the picture (x < 0.3, y < 0.15: the box a mask
   *   hides; measured ≤ 23 % × 10 % from 320×180 to 3840×2160);
   * - the object, while moveObject() shows it: a box, white above and black below (one half stands out on
   *   any background), 25 % × 60 % of its rectangle, sliding left to right across it at 40 % of its travel
   *   per second of the stream and starting again at the left edge, so frames 1 s apart show it 0.4 or
   *   0.6 of its travel apart; nothing outside the rectangle changes;
   * - the brightness, while setBrightness() ramps it (drawn under the clock, as a camera's OSD is).
   */
  scene?: 'still';
  /** With `scene`: the rectangle moveObject(mount, true) uses. Default {x: 0.55, y: 0.5, w: 0.4, h: 0.45}. */
  object?: SceneRect;
  /**
   * A second stream: a 440 Hz sine from the same pipeline clock as the video, as a camera's microphone.
   * `pcmu` / `pcma`: G.711 µ-law / A-law, 8 kHz mono; `aac`: AAC-LC 16 kHz mono (RFC 3640, the SDP's
   * config= carries its parameters); `l16`: 16-bit PCM, 8 kHz (a codec MP4 does not take); `unknown`:
   * G.711 bytes under an encoding name no decoder knows. setAudio() breaks it. Default: none.
   */
  audio?: RtspAudioCodec;
  /** RTSP basic auth for this mount only (both or neither; no ',' allowed). */
  user?: string;
  pass?: string;
  /**
   * Fake edge storage (SD card): besides the live mount, serve Hikvision-style
   * (`/<name>/Streaming/tracks/101?starttime=…Z&endtime=…Z`, UTC) and Dahua-style
   * (`/<name>/cam/playback?channel=1&starttime=YYYY_MM_DD_hh_mm_ss&endtime=…`, wall time in
   * `timezone`) replay requests for any span inside [sinceMs, now] (cut at `untilMs`); other spans get 404.
   */
  edge?: {
    /** Oldest footage held, ms since the epoch. Default: when the server started. */
    sinceMs?: number;
    /**
     * Newest footage held, ms since the epoch (the card's last minutes not written, or a card that
     * failed). A span running past it is streamed only up to it (less than asked for), a span starting
     * at or after it gets 404. Default: none (up to now).
     */
    untilMs?: number;
    /** IANA zone for Dahua-style wall times. Default `UTC`. */
    timezone?: string;
  };
}

export type ReplayStyle = 'hikvision' | 'dahua';

export type RtspAudioCodec = 'pcmu' | 'pcma' | 'aac' | 'l16' | 'unknown';
/** What setAudio() makes a mount's audio packets: as encoded, random bytes, or none at all. */
export type RtspAudioMode = 'ok' | 'garbage' | 'drop';
const AUDIO_CODECS: readonly RtspAudioCodec[] = ['pcmu', 'pcma', 'aac', 'l16', 'unknown'];

/** A rectangle of the picture, relative to its size (0..1, x/y from the top-left corner), inside it. */
export interface SceneRect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface RtspServerOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Bind address, default 127.0.0.1. */
  address?: string;
  mounts: RtspMountSpec[];
  /** RTSP basic auth for every mount that has no user/pass of its own. */
  auth?: { user: string; pass: string };
  /** Python interpreter with PyGObject; default /usr/bin/python3. */
  python?: string;
  /** Override the script location (default: scriptPath()). */
  script?: string;
  /** How long to wait for the `ready` line, default 15 s. */
  readyTimeoutMs?: number;
  /** Forward the server's stderr lines: true = to process.stderr, or a callback. */
  stderr?: boolean | ((line: string) => void);
}

export interface RtspReadyEvent {
  event: 'ready';
  port: number;
  address: string;
  pid: number;
  mounts: string[];
}
/** Emitted once per media instance (a shared mount has one instance while clients are attached). */
export interface RtspMediaEvent {
  event: 'first_rtp' | 'first_keyframe' | 'media_unprepared';
  /** Mount path with leading slash, e.g. `/cam1`. */
  mount: string;
  /** Media instance counter inside the server process (1, 2, ...). */
  media: number;
  /** Date.now()-compatible wall clock (ms, fractional) when the event happened in the server. */
  wall_ms: number;
}
/** A client's PLAY request (every client, also those joining an already-running shared media). */
export interface RtspPlayEvent {
  event: 'play';
  /** Mount path with leading slash, or null if the request URL matched no mount. */
  mount: string | null;
  /** True when the PLAY was for an edge replay path of the mount. */
  replay?: boolean;
  wall_ms: number;
}
/**
 * Edge replay lifecycle: `replay` when a valid request's media is created (at DESCRIBE),
 * `replay_end` when its span has been fully sent (EOS), `replay_aborted` when the media is torn
 * down before that (client gone, e.g. killed by its timeout during a stall).
 */
export interface RtspReplayEvent {
  event: 'replay' | 'replay_end' | 'replay_aborted';
  /** Live mount path with leading slash, e.g. `/cam1`. */
  mount: string;
  style: ReplayStyle;
  /** Requested span, ms since the epoch. */
  start_ms: number;
  end_ms: number;
  /** `replay`: frames the span will have; `replay_end`/`replay_aborted`: frames sent to the payloader. */
  frames: number;
  wall_ms: number;
}
/** A replay request answered 404 (malformed, end <= start, or span not held). */
export interface RtspReplayRefusedEvent {
  event: 'replay_refused';
  mount: string;
  style: ReplayStyle;
  reason: string;
  /** Present when the times parsed. */
  start_ms?: number;
  end_ms?: number;
  wall_ms: number;
}
/** Acknowledges a stallReplays() command. */
export interface RtspStallEvent {
  event: 'stall_replays';
  on: boolean;
  /** Replay media running at that moment. */
  active: number;
  wall_ms: number;
}
/** Acknowledges a jump() command. */
export interface RtspJumpEvent {
  event: 'jump';
  mount: string;
  /** This command's step, ms. */
  jump_ms: number;
  /** The mount's offset from now on, all jumps added up, ms (absent with `error`). */
  offset_ms?: number;
  /** Live media of the mount at that moment (absent with `error`). */
  medias?: number;
  error?: string;
  wall_ms: number;
}
/** Acknowledges a freeze() command. */
export interface RtspFreezeEvent {
  event: 'freeze';
  mount: string;
  on: boolean;
  /** Live media of the mount at that moment (absent with `error`). */
  medias?: number;
  error?: string;
  wall_ms: number;
}
/** Acknowledges moveObject() (`object`) and setBrightness() (`brightness`). */
export interface RtspSceneEvent {
  event: 'object' | 'brightness';
  mount: string;
  /** `object`: shown (true) or hidden. */
  on?: boolean;
  /** `object`: the rectangle it moves in, [x, y, w, h] relative, null when hidden (absent with `error`). */
  rect?: [number, number, number, number] | null;
  /** `brightness`: the level ramped to and the ramp's length. */
  level?: number;
  ramp_ms?: number;
  /** Live media of the mount at that moment (absent with `error`). */
  medias?: number;
  error?: string;
  /** `object`: when the pipeline took the change; `brightness`: when the ramp started. */
  wall_ms: number;
}
/** Acknowledges setAudio(). */
export interface RtspAudioEvent {
  event: 'audio';
  mount: string;
  mode: RtspAudioMode;
  /** Live media of the mount at that moment (absent with `error`). */
  medias?: number;
  error?: string;
  wall_ms: number;
}
export type RtspServerEvent =
  | RtspAudioEvent
  | RtspSceneEvent
  | RtspReadyEvent
  | RtspMediaEvent
  | RtspPlayEvent
  | RtspReplayEvent
  | RtspReplayRefusedEvent
  | RtspStallEvent
  | RtspFreezeEvent
  | RtspJumpEvent;
export type RtspReplayEventKind = 'replay' | 'replay_end' | 'replay_aborted' | 'replay_refused';
export type RtspTimedEventKind = 'first_rtp' | 'first_keyframe' | 'media_unprepared' | 'play' | RtspReplayEventKind;

export interface RtspServerEvents {
  /** Every JSON line from the server. */
  event: [RtspServerEvent];
  first_rtp: [RtspMediaEvent];
  first_keyframe: [RtspMediaEvent];
  media_unprepared: [RtspMediaEvent];
  play: [RtspPlayEvent];
  replay: [RtspReplayEvent];
  replay_end: [RtspReplayEvent];
  replay_aborted: [RtspReplayEvent];
  replay_refused: [RtspReplayRefusedEvent];
  stall_replays: [RtspStallEvent];
  freeze: [RtspFreezeEvent];
  jump: [RtspJumpEvent];
  /** The server process ended (for any reason). */
  exit: [code: number | null, signal: NodeJS.Signals | null];
}

/** Resolves scripts/rtsp-server.py from src/demo (tsx) and dist/demo (compiled) alike. */
export function scriptPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'scripts', 'rtsp-server.py');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  // src/demo/ and dist/demo/ are both two levels below the package root.
  return resolve(here, '..', '..', 'scripts', 'rtsp-server.py');
}

export type RtspServerAvailability = { ok: true } | { ok: false; reason: string };

const AVAILABILITY_PROBE = `
import json, sys
def out(o):
    sys.stdout.write(json.dumps(o)); sys.stdout.flush(); sys.exit(0)
try:
    import gi
except ImportError as e:
    out({"ok": False, "missing": "gi", "detail": str(e)})
try:
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
except (ImportError, ValueError) as e:
    out({"ok": False, "missing": "Gst", "detail": str(e)})
try:
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GstRtspServer
except (ImportError, ValueError) as e:
    out({"ok": False, "missing": "GstRtspServer", "detail": str(e)})
Gst.init(None)
need = ["videotestsrc", "videoconvert", "x264enc", "h264parse", "rtph264pay"]
out({"ok": True, "missingElements": [n for n in need if Gst.ElementFactory.find(n) is None]})
`;

const ELEMENT_PACKAGES: Record<string, string> = {
  videotestsrc: 'gstreamer1.0-plugins-base',
  videoconvert: 'gstreamer1.0-plugins-base',
  x264enc: 'gstreamer1.0-plugins-ugly',
  h264parse: 'gstreamer1.0-plugins-bad',
  rtph264pay: 'gstreamer1.0-plugins-good',
};

const availabilityCache = new Map<string, Promise<RtspServerAvailability>>();

/** Checks that python3 + PyGObject + GstRtspServer + the needed GStreamer elements are present. */
export function rtspServerAvailable(python: string = DEFAULT_PYTHON): Promise<RtspServerAvailability> {
  let p = availabilityCache.get(python);
  if (!p) {
    p = checkAvailability(python);
    availabilityCache.set(python, p);
  }
  return p;
}

async function checkAvailability(python: string): Promise<RtspServerAvailability> {
  const script = scriptPath();
  if (!existsSync(script)) return { ok: false, reason: `RTSP server script not found at ${script}` };
  const res = await runCapture(python, ['-c', AVAILABILITY_PROBE], 15_000);
  if (res.error) {
    return { ok: false, reason: `cannot run ${python} (${res.error}); apt-get install python3 python3-gi` };
  }
  let parsed: { ok: boolean; missing?: string; detail?: string; missingElements?: string[] };
  try {
    parsed = JSON.parse(res.stdout.trim()) as typeof parsed;
  } catch {
    return {
      ok: false,
      reason: `${python} availability probe failed (exit ${res.code ?? res.signal}): ${res.stderr.trim().slice(-500)}`,
    };
  }
  if (!parsed.ok) {
    const pkgs: Record<string, string> = {
      gi: 'python3-gi',
      Gst: 'gir1.2-gstreamer-1.0',
      GstRtspServer: 'gir1.2-gst-rtsp-server-1.0',
    };
    const pkg = pkgs[parsed.missing ?? ''] ?? 'python3-gi gir1.2-gst-rtsp-server-1.0';
    return {
      ok: false,
      reason: `${python} cannot import ${parsed.missing} (${parsed.detail ?? ''}); apt-get install ${pkg} gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly`,
    };
  }
  const missing = parsed.missingElements ?? [];
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((e) => ELEMENT_PACKAGES[e] ?? 'gstreamer1.0-plugins-good'))];
    return {
      ok: false,
      reason: `missing GStreamer elements ${missing.join(', ')}; apt-get install ${pkgs.join(' ')}`,
    };
  }
  return { ok: true };
}

interface CaptureResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  error?: string;
}

function runCapture(cmd: string, args: string[], timeoutMs: number): Promise<CaptureResult> {
  return new Promise((resolvePromise) => {
    let stdout = '';
    let stderr = '';
    let error: string | undefined;
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      error = err.message;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, ...(error !== undefined ? { error } : {}) });
    });
  });
}

const MOUNT_NAME_RE = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

function normalizeMount(mount: string): string {
  return mount.replace(/^\/+/, '');
}

function positiveInt(label: string, v: number | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`RtspServer: ${label} must be a positive integer, got ${v}`);
  return String(v);
}

/** Builds the script's `--mount` SPEC (`name:key=value,...`). Exported for tests/tools. */
export function mountSpecArg(m: RtspMountSpec): string {
  const name = normalizeMount(m.name);
  if (!MOUNT_NAME_RE.test(name)) throw new Error(`RtspServer: bad mount name ${JSON.stringify(m.name)}`);
  const kv: string[] = [];
  const add = (k: string, v: string | undefined) => {
    if (v !== undefined) kv.push(`${k}=${v}`);
  };
  add('width', positiveInt('width', m.width));
  add('height', positiveInt('height', m.height));
  add('fps', positiveInt('fps', m.fps));
  add('bitrate', positiveInt('bitrateKbps', m.bitrateKbps));
  add('gop', positiveInt('gop', m.gop));
  if (m.pattern !== undefined) {
    if (!/^[A-Za-z0-9_-]+$/.test(m.pattern)) throw new Error(`RtspServer: bad pattern ${JSON.stringify(m.pattern)}`);
    add('pattern', m.pattern);
  }
  if (m.shared !== undefined) add('shared', m.shared ? '1' : '0');
  if (m.clock !== undefined) add('clock', m.clock ? '1' : '0');
  if (m.code !== undefined) add('code', m.code ? '1' : '0');
  if (m.sprop !== undefined) add('sprop', m.sprop ? '1' : '0');
  if (m.seek !== undefined) add('seek', m.seek ? '1' : '0');
  if (m.codec !== undefined) add('codec', m.codec);
  if (m.scene !== undefined) add('scene', m.scene);
  if (m.audio !== undefined) {
    if (!AUDIO_CODECS.includes(m.audio)) throw new Error(`RtspServer: mount ${name}: bad audio ${JSON.stringify(m.audio)}`);
    add('audio', m.audio);
  }
  if (m.object !== undefined) add('object', sceneRectArg(m.object, `mount ${name}: object`));
  if ((m.user === undefined) !== (m.pass === undefined)) {
    throw new Error(`RtspServer: mount ${name}: user and pass must be given together`);
  }
  if (m.user !== undefined && m.pass !== undefined) {
    if (!m.user || /[,:]/.test(m.user) || m.pass.includes(',')) {
      throw new Error(
        `RtspServer: mount ${name}: user must be non-empty without ',' or ':', pass without ',' (use options.auth for arbitrary passwords)`,
      );
    }
    add('user', m.user);
    add('pass', m.pass);
  }
  if (m.edge !== undefined) {
    add('edge', '1');
    const { sinceMs, untilMs, timezone } = m.edge;
    if (sinceMs !== undefined) {
      if (!Number.isFinite(sinceMs) || sinceMs < 0) throw new Error(`RtspServer: mount ${name}: bad edge.sinceMs ${sinceMs}`);
      add('edge_since', String(Math.round(sinceMs)));
    }
    if (untilMs !== undefined) {
      if (!Number.isFinite(untilMs) || untilMs < 0) throw new Error(`RtspServer: mount ${name}: bad edge.untilMs ${untilMs}`);
      add('edge_until', String(Math.round(untilMs)));
    }
    if (timezone !== undefined) {
      checkTimeZone(timezone);
      add('edge_tz', timezone);
    }
  }
  return kv.length > 0 ? `${name}:${kv.join(',')}` : name;
}

/** `x:y:w:h` of a SceneRect (4 decimals), or throws when it is not inside the picture. */
function sceneRectArg(r: SceneRect, what: string): string {
  const v = [r.x, r.y, r.w, r.h].map((n) => (Number.isFinite(n) ? Number(n.toFixed(4)) : NaN));
  const [x, y, w, h] = v as [number, number, number, number];
  if (!v.every((n) => n >= 0 && n <= 1) || w <= 0 || h <= 0 || x + w > 1 + 1e-9 || y + h > 1 + 1e-9) {
    throw new Error(`RtspServer: ${what} must be a rectangle inside the picture (relative 0..1), got ${JSON.stringify(r)}`);
  }
  return v.join(':');
}

function checkTimeZone(tz: string): void {
  let ok = /^[A-Za-z0-9_+\-/]+$/.test(tz);
  if (ok) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
    } catch {
      ok = false;
    }
  }
  if (!ok) throw new Error(`RtspServer: unknown time zone ${JSON.stringify(tz)}`);
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `20261125T101500Z` (UTC, whole seconds, truncated). */
export function formatHikvisionTime(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  return (
    `${d.getUTCFullYear()}${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}` +
    `T${pad2(d.getUTCHours())}${pad2(d.getUTCMinutes())}${pad2(d.getUTCSeconds())}Z`
  );
}

/** `2026_11_25_10_15_00`: wall time in `timeZone` (IANA), whole seconds, truncated. */
export function formatDahuaTime(ms: number, timeZone = 'UTC'): string {
  checkTimeZone(timeZone);
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(Math.floor(ms / 1000) * 1000));
  const get = (t: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === t)?.value ?? '00';
  return `${get('year')}_${get('month')}_${get('day')}_${get('hour')}_${get('minute')}_${get('second')}`;
}

/** Live servers, SIGKILLed if the Node process exits without stopping them (a SIGSTOPped child would never see stdin EOF). */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) {
        try {
          c.kill('SIGKILL');
        } catch {
          /* already gone */
        }
      }
    });
  }
}

export class RtspServer extends EventEmitter<RtspServerEvents> {
  readonly port: number;
  readonly address: string;
  readonly pid: number;
  /** Mount paths with leading slash, as reported by the server. */
  readonly mounts: readonly string[];

  private readonly child: ChildProcess;
  private readonly exitPromise: Promise<void>;
  private readonly creds = new Map<string, { user: string; pass: string }>();
  /** Mount path -> edge time zone, for mounts with edge replay. */
  private readonly edgeZones = new Map<string, string>();
  private readonly replayLog: (RtspReplayEvent | RtspReplayRefusedEvent)[] = [];
  private readonly history = new Map<RtspTimedEventKind, Map<string, number[]>>();
  private stderrBuf: string;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private isPaused = false;

  private constructor(init: {
    child: ChildProcess;
    exitPromise: Promise<void>;
    ready: RtspReadyEvent;
    urlHost: string;
    opts: RtspServerOptions;
    stderrBuf: string;
  }) {
    super();
    this.child = init.child;
    this.exitPromise = init.exitPromise;
    this.port = init.ready.port;
    this.address = init.urlHost;
    this.pid = init.child.pid ?? init.ready.pid;
    this.mounts = init.ready.mounts;
    this.stderrBuf = init.stderrBuf;
    for (const m of init.opts.mounts) {
      const c = m.user !== undefined && m.pass !== undefined ? { user: m.user, pass: m.pass } : init.opts.auth;
      if (c) this.creds.set('/' + normalizeMount(m.name), c);
      if (m.edge) this.edgeZones.set('/' + normalizeMount(m.name), m.edge.timezone ?? 'UTC');
    }
  }

  /** Spawns the server; resolves once it listens. Rejects (with the stderr tail) on early exit or after 15 s. */
  static async start(opts: RtspServerOptions): Promise<RtspServer> {
    const python = opts.python ?? DEFAULT_PYTHON;
    const script = opts.script ?? scriptPath();
    const address = opts.address ?? '127.0.0.1';
    const port = opts.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`RtspServer: bad port ${port}`);
    if (opts.mounts.length === 0) throw new Error('RtspServer: at least one mount is required');
    const args = [script, '--port', String(port), '--address', address, '--exit-on-stdin-eof'];
    for (const m of opts.mounts) args.push('--mount', mountSpecArg(m));
    if (opts.auth) {
      if (!opts.auth.user || opts.auth.user.includes(':')) throw new Error('RtspServer: auth.user must be non-empty without ":"');
      args.push('--auth', `${opts.auth.user}:${opts.auth.pass}`);
    }

    const child = spawn(python, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      // Own process group: a Ctrl-C in Vigil's terminal reaches Vigil, which stops the recorders before
      // the cameras; the server still exits with Vigil through --exit-on-stdin-eof.
      detached: true,
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
    });
    track(child);
    // The pipe may break when the child dies; that's expected.
    child.stdin?.on('error', () => {});

    let stderrBuf = '';
    let server: RtspServer | undefined;
    const forward: ((line: string) => void) | undefined =
      opts.stderr === true
        ? (l) => void process.stderr.write(`[rtsp-server] ${l}\n`)
        : typeof opts.stderr === 'function'
          ? opts.stderr
          : undefined;
    const stderrLines = createInterface({ input: child.stderr! });
    stderrLines.on('line', (line) => {
      if (server) server.appendStderr(line);
      else stderrBuf = tail(stderrBuf + line + '\n');
      forward?.(line);
    });

    let spawnError: Error | undefined;
    let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const exitPromise = new Promise<void>((res) => {
      child.once('error', (err) => {
        spawnError = err;
        // A failed spawn never emits 'exit'.
        if (child.pid === undefined) {
          live.delete(child);
          res();
        }
      });
      child.once('exit', () => live.delete(child));
      // 'close' comes after 'exit' (the process is reaped) and after stdout/stderr are drained,
      // so every JSON line and the full stderr tail have been seen by then.
      child.once('close', (code, signal) => {
        exitInfo = { code, signal };
        live.delete(child);
        if (server) {
          server.exitInfo = exitInfo;
          server.emit('exit', code, signal);
        }
        res();
      });
    });

    const pending: RtspServerEvent[] = [];
    const ready = await new Promise<RtspReadyEvent>((resolveReady, rejectReady) => {
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const errTail = stderrBuf.trim();
        rejectReady(new Error(`RtspServer: ${why}${errTail ? `\n--- rtsp-server stderr ---\n${errTail}` : ''}`));
      };
      const timeoutMs = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;
      const timer = setTimeout(() => {
        fail(`not ready after ${timeoutMs} ms`);
        child.kill('SIGKILL');
      }, timeoutMs);
      const stdoutLines = createInterface({ input: child.stdout! });
      stdoutLines.on('line', (line) => {
        let ev: RtspServerEvent;
        try {
          ev = JSON.parse(line) as RtspServerEvent;
        } catch {
          stderrBuf = tail(stderrBuf + `(stdout) ${line}\n`);
          return;
        }
        if (server) {
          server.handleEvent(ev);
        } else if (ev.event === 'ready' && !settled) {
          settled = true;
          clearTimeout(timer);
          resolveReady(ev);
        } else {
          pending.push(ev);
        }
      });
      exitPromise.then(() => {
        if (spawnError) fail(`cannot spawn ${python}: ${spawnError.message}`);
        else fail(`exited before ready (code ${exitInfo?.code ?? 'null'}, signal ${exitInfo?.signal ?? 'null'})`);
      });
    }).catch(async (err: unknown) => {
      if (!exitInfo && !spawnError) child.kill('SIGKILL');
      await exitPromise;
      throw err;
    });

    const urlHost = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
    server = new RtspServer({ child, exitPromise, ready, urlHost, opts, stderrBuf });
    for (const ev of pending) server.handleEvent(ev);
    return server;
  }

  /** rtsp://host:port/mount; with `credentials: true`, user:pass@ is included for protected mounts. */
  url(mount: string, opts: { credentials?: boolean } = {}): string {
    const path = '/' + normalizeMount(mount);
    const host = this.address.includes(':') ? `[${this.address}]` : this.address;
    const c = opts.credentials ? this.creds.get(path) : undefined;
    const userinfo = c ? `${encodeURIComponent(c.user)}:${encodeURIComponent(c.pass)}@` : '';
    return `rtsp://${userinfo}${host}:${this.port}${path}`;
  }

  /**
   * Camera-style replay URL for an edge mount. Instants are truncated to whole seconds (neither
   * format has a sub-second field). Hikvision: UTC `…/<mount>/Streaming/tracks/101?starttime=
   * 20261125T101500Z&endtime=…`; Dahua: `…/<mount>/cam/playback?channel=1&starttime=
   * 2026_11_25_10_15_00&endtime=…` in the mount's `edge.timezone`.
   */
  replayUrl(
    mount: string,
    style: ReplayStyle,
    startMs: number,
    endMs: number,
    opts: { credentials?: boolean } = {},
  ): string {
    const path = '/' + normalizeMount(mount);
    const tz = this.edgeZones.get(path);
    if (tz === undefined) throw new Error(`RtspServer: mount ${path} has no edge replay`);
    if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) throw new Error('RtspServer: replayUrl needs finite instants');
    const base = this.url(mount, opts);
    if (style === 'hikvision') {
      return `${base}/Streaming/tracks/101?starttime=${formatHikvisionTime(startMs)}&endtime=${formatHikvisionTime(endMs)}`;
    }
    return `${base}/cam/playback?channel=1&starttime=${formatDahuaTime(startMs, tz)}&endtime=${formatDahuaTime(endMs, tz)}`;
  }

  /** Replay events (`replay`, `replay_end`, `replay_aborted`, `replay_refused`) seen so far, optionally for one mount. */
  replayEvents(mount?: string): (RtspReplayEvent | RtspReplayRefusedEvent)[] {
    const path = mount === undefined ? undefined : '/' + normalizeMount(mount);
    return this.replayLog.filter((e) => path === undefined || e.mount === path);
  }

  /**
   * Resolves with the first replay event of `kind` for `mount` with wall_ms >= `after` (already-seen
   * events count). Rejects after `timeoutMs` (default 10 s) or if the server exits.
   */
  waitForReplayEvent<K extends RtspReplayEventKind>(
    kind: K,
    mount: string,
    opts: { after?: number; timeoutMs?: number } = {},
  ): Promise<K extends 'replay_refused' ? RtspReplayRefusedEvent : RtspReplayEvent> {
    type R = K extends 'replay_refused' ? RtspReplayRefusedEvent : RtspReplayEvent;
    const path = '/' + normalizeMount(mount);
    const after = opts.after ?? -Infinity;
    const match = (e: RtspServerEvent): e is RtspReplayEvent | RtspReplayRefusedEvent =>
      e.event === kind && 'mount' in e && e.mount === path && e.wall_ms >= after;
    const hit = this.replayLog.find(match);
    if (hit) return Promise.resolve(hit as R);
    return this.waitFor<R>((e) => (match(e) ? (e as R) : undefined), opts.timeoutMs ?? 10_000, `${kind} on ${path}`);
  }

  /**
   * Stall (true) or un-stall (false) edge replays: while stalled, running and new replay media stop
   * sending (the payloader's output is blocked; a new replay still answers DESCRIBE/PLAY and sends
   * its first frame) but RTSP sessions stay open — a camera hanging mid-replay. Resolves when the
   * server has applied it.
   */
  stallReplays(on: boolean, opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.exited || !this.child.stdin || this.child.stdin.destroyed) {
      return Promise.reject(new Error('RtspServer: stallReplays on an exited server'));
    }
    const ack = this.waitFor<true>(
      (e) => (e.event === 'stall_replays' && e.on === on ? true : undefined),
      opts.timeoutMs ?? 5_000,
      `stall_replays ${on}`,
    );
    this.child.stdin.write(`stall-replays ${on ? 1 : 0}\n`);
    return ack.then(() => undefined);
  }

  /**
   * Freezes (or releases) a live mount: the payloader of each of its media blocks with the RTSP
   * sessions left open, as a camera whose encoder or network path froze. Released, the source sends
   * the frames it owes at once, back-dated (RTP timestamps and `code` timecodes of the instants they
   * were due, none lost), then runs at real time again. A client connecting while the mount is frozen
   * gets its DESCRIBE answered and its PLAY only on release. Resolves on the server's acknowledgement;
   * rejects for an unknown mount.
   */
  freeze(mount: string, on: boolean, opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.exited || !this.child.stdin || this.child.stdin.destroyed) {
      return Promise.reject(new Error('RtspServer: freeze on an exited server'));
    }
    const path = `/${normalizeMount(mount)}`;
    const ack = this.waitFor<RtspFreezeEvent>(
      (e) => (e.event === 'freeze' && e.mount === path && e.on === on ? e : undefined),
      opts.timeoutMs ?? 5_000,
      `freeze ${path} ${on}`,
    );
    this.child.stdin.write(`freeze ${normalizeMount(mount)} ${on ? 1 : 0}\n`);
    return ack.then((e) => {
      if (e.error) throw new Error(`RtspServer: freeze ${path}: ${e.error}`);
    });
  }

  /**
   * On a `scene: 'still'` mount, from the next frame on an object moves inside `rect` (relative to the
   * picture; see RtspMountSpec.scene for how it moves), in every media of the mount, also media prepared
   * later; `null` hides it and the picture is still again. `true` is the mount's own `object` rectangle,
   * `false` the same as null. Resolves with the server's wall-clock ms (Date.now() scale) at which the
   * pipeline took the change; rejects for a mount without the scene.
   */
  moveObject(mount: string, rect: SceneRect | boolean | null, opts: { timeoutMs?: number } = {}): Promise<number> {
    let arg: string;
    try {
      arg = typeof rect === 'boolean' ? (rect ? '1' : '0') : rect === null ? '0' : sceneRectArg(rect, 'moveObject rect');
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const on = arg !== '0';
    const want = typeof rect === 'object' && rect !== null ? arg.split(':').map(Number) : undefined;
    return this.sceneCommand('object', mount, arg, (e) => e.on === on && (want === undefined || want.every((v, i) => e.rect?.[i] === v)), opts.timeoutMs);
  }

  /**
   * On a `scene: 'still'` mount, the whole picture's brightness moves linearly from where it is to `level`
   * over `rampMs` (0 = at once) in every media of the mount, each frame at the level of its own capture
   * instant (at 5 fps a 3 s ramp is 15 equal steps): e.g. 60 000 ms for a dusk or dawn, light and not
   * motion. `level` is videobalance's brightness, -1..1: 0 = as drawn, ±0.5 = ±128 levels of luma (beyond,
   * most of the picture clips). Resolves with the server's wall-clock ms at which the ramp started; rejects
   * for a mount without the scene.
   */
  setBrightness(mount: string, level: number, rampMs: number, opts: { timeoutMs?: number } = {}): Promise<number> {
    if (!(Number.isFinite(level) && level >= -1 && level <= 1) || !Number.isInteger(rampMs) || rampMs < 0 || rampMs > 999_999_999) {
      return Promise.reject(new Error(`RtspServer: setBrightness needs a level in -1..1 and whole ms, got ${level}, ${rampMs}`));
    }
    const value = Number(level.toFixed(4));
    return this.sceneCommand('brightness', mount, `${value} ${rampMs}`, (e) => e.level === value && e.ramp_ms === rampMs, opts.timeoutMs);
  }

  private sceneCommand(what: 'object' | 'brightness', mount: string, args: string, match: (e: RtspSceneEvent) => boolean, timeoutMs = 5_000): Promise<number> {
    if (this.exited || !this.child.stdin || this.child.stdin.destroyed) {
      return Promise.reject(new Error(`RtspServer: ${what} on an exited server`));
    }
    const path = `/${normalizeMount(mount)}`;
    const ack = this.waitFor<RtspSceneEvent>(
      (e) => (e.event === what && e.mount === path && (e.error !== undefined || match(e)) ? e : undefined),
      timeoutMs,
      `${what} ${path}`,
    );
    this.child.stdin.write(`${what} ${normalizeMount(mount)} ${args}\n`);
    return ack.then((e) => {
      if (e.error) throw new Error(`RtspServer: ${what} ${path}: ${e.error}`);
      return e.wall_ms;
    });
  }

  /**
   * From now on the RTP timestamps of every live stream of the mount (running and new) are offset by
   * a further `ms` (cumulative, negative allowed): a camera whose media clock jumps (encoder restart,
   * clock step) with its RTSP sessions left open. Only the RTP header changes: frames keep their pace.
   * Resolves with the acknowledgement (the mount's offset, `offset_ms`); rejects for an unknown mount.
   */
  jump(mount: string, ms: number, opts: { timeoutMs?: number } = {}): Promise<RtspJumpEvent> {
    if (this.exited || !this.child.stdin || this.child.stdin.destroyed) {
      return Promise.reject(new Error('RtspServer: jump on an exited server'));
    }
    if (!Number.isInteger(ms) || Math.abs(ms) > 999_999_999) {
      return Promise.reject(new Error(`RtspServer: jump needs whole milliseconds within ±999999999, got ${ms}`));
    }
    const path = `/${normalizeMount(mount)}`;
    const ack = this.waitFor<RtspJumpEvent>(
      (e) => (e.event === 'jump' && e.mount === path && e.jump_ms === ms ? e : undefined),
      opts.timeoutMs ?? 5_000,
      `jump ${path} ${ms}`,
    );
    this.child.stdin.write(`jump ${normalizeMount(mount)} ${ms}\n`);
    return ack.then((e) => {
      if (e.error) throw new Error(`RtspServer: jump ${path}: ${e.error}`);
      return e;
    });
  }

  /**
   * On a mount with `audio`, from the next packet on every audio RTP packet of its live media (running
   * and new) carries random bytes instead of its payload (`garbage`: header, timestamps and pace kept),
   * or is not sent (`drop`: the audio disappears, the video goes on), or is sent as encoded again
   * (`ok`). Resolves on the server's acknowledgement; rejects for a mount without audio.
   */
  setAudio(mount: string, mode: RtspAudioMode, opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.exited || !this.child.stdin || this.child.stdin.destroyed) {
      return Promise.reject(new Error('RtspServer: setAudio on an exited server'));
    }
    const path = `/${normalizeMount(mount)}`;
    const ack = this.waitFor<RtspAudioEvent>(
      (e) => (e.event === 'audio' && e.mount === path && e.mode === mode ? e : undefined),
      opts.timeoutMs ?? 5_000,
      `audio ${path} ${mode}`,
    );
    this.child.stdin.write(`audio ${normalizeMount(mount)} ${mode}\n`);
    return ack.then((e) => {
      if (e.error) throw new Error(`RtspServer: audio ${path}: ${e.error}`);
    });
  }

  private waitFor<T>(pick: (e: RtspServerEvent) => T | undefined, timeoutMs: number, what: string): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`RtspServer: exited while waiting for ${what}`));
    return new Promise<T>((resolveWait, rejectWait) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('exit', onExit);
      };
      const onEvent = (ev: RtspServerEvent) => {
        const v = pick(ev);
        if (v !== undefined) {
          cleanup();
          resolveWait(v);
        }
      };
      const onExit = () => {
        cleanup();
        rejectWait(new Error(`RtspServer: exited while waiting for ${what}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        rejectWait(new Error(`RtspServer: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('event', onEvent);
      this.on('exit', onExit);
    });
  }

  /** wall_ms values of the `first_rtp` events seen so far for the mount (one per media instance). */
  firstRtp(mount: string): number[] {
    return this.eventTimes('first_rtp', mount);
  }

  /** wall_ms values of the `first_keyframe` events seen so far for the mount. */
  firstKeyframe(mount: string): number[] {
    return this.eventTimes('first_keyframe', mount);
  }

  /** wall_ms values of all events of `kind` seen so far for the mount, in arrival order. */
  eventTimes(kind: RtspTimedEventKind, mount: string): number[] {
    return [...(this.history.get(kind)?.get('/' + normalizeMount(mount)) ?? [])];
  }

  /**
   * Resolves with the wall_ms of the first `first_rtp` for `mount` with wall_ms >= `after`
   * (already-seen events count). Rejects after `timeoutMs` (default 10 s) or if the server exits.
   */
  waitForFirstRtp(mount: string, opts: { after?: number; timeoutMs?: number } = {}): Promise<number> {
    return this.waitForEvent('first_rtp', mount, opts);
  }

  /** Like waitForFirstRtp, for `first_keyframe`. */
  waitForFirstKeyframe(mount: string, opts: { after?: number; timeoutMs?: number } = {}): Promise<number> {
    return this.waitForEvent('first_keyframe', mount, opts);
  }

  /**
   * Resolves with the wall_ms of the first `kind` event for `mount` with wall_ms >= `after`
   * (already-seen events count). Rejects after `timeoutMs` (default 10 s) or if the server exits.
   */
  waitForEvent(
    kind: RtspTimedEventKind,
    mount: string,
    opts: { after?: number; timeoutMs?: number } = {},
  ): Promise<number> {
    const path = '/' + normalizeMount(mount);
    const after = opts.after ?? -Infinity;
    const hit = this.history.get(kind)?.get(path)?.find((t) => t >= after);
    if (hit !== undefined) return Promise.resolve(hit);
    if (this.exited) return Promise.reject(new Error(`RtspServer: exited while waiting for ${kind} on ${path}`));
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise<number>((resolveWait, rejectWait) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('exit', onExit);
      };
      const onEvent = (ev: RtspServerEvent) => {
        if (ev.event === kind && 'mount' in ev && ev.mount === path && ev.wall_ms >= after) {
          cleanup();
          resolveWait(ev.wall_ms);
        }
      };
      const onExit = () => {
        cleanup();
        rejectWait(new Error(`RtspServer: exited while waiting for ${kind} on ${path}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        rejectWait(new Error(`RtspServer: no ${kind} on ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('event', onEvent);
      this.on('exit', onExit);
    });
  }

  /** True once the process has exited. */
  get exited(): boolean {
    return this.exitInfo !== undefined;
  }
  get exitCode(): number | null {
    return this.exitInfo?.code ?? null;
  }
  get exitSignal(): NodeJS.Signals | null {
    return this.exitInfo?.signal ?? null;
  }
  get paused(): boolean {
    return this.isPaused && !this.exited;
  }

  /** Last ~8 KiB of the server's stderr. */
  stderrTail(): string {
    return this.stderrBuf;
  }

  /** Resolves when the process has exited (and been reaped). */
  waitForExit(): Promise<void> {
    return this.exitPromise;
  }

  /** SIGTERM (clean exit 0), SIGKILL after 3 s; resolves once the process has exited. */
  async stop(): Promise<void> {
    if (this.exited) return this.exitPromise;
    this.signal('SIGTERM');
    // A stopped process only acts on SIGTERM once continued.
    if (this.isPaused) this.resume();
    const timedOut = await Promise.race([
      this.exitPromise.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), STOP_GRACE_MS).unref()),
    ]);
    if (timedOut && !this.exited) this.signal('SIGKILL');
    await this.exitPromise;
  }

  /** SIGKILL (simulates a camera dying) and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.exited) this.signal('SIGKILL');
    await this.exitPromise;
  }

  /** SIGSTOP: the server freezes (connections stay open, nothing is sent) — a stalled camera. */
  pause(): void {
    if (this.exited) return;
    this.signal('SIGSTOP');
    this.isPaused = true;
  }

  /** SIGCONT after pause(). */
  resume(): void {
    if (this.exited) return;
    this.signal('SIGCONT');
    this.isPaused = false;
  }

  private signal(sig: NodeJS.Signals): void {
    try {
      this.child.kill(sig);
    } catch {
      /* already exited */
    }
  }

  private appendStderr(line: string): void {
    this.stderrBuf = tail(this.stderrBuf + line + '\n');
  }

  private logReplay(ev: RtspReplayEvent | RtspReplayRefusedEvent): void {
    this.replayLog.push(ev);
    if (this.replayLog.length > 10_000) this.replayLog.splice(0, this.replayLog.length - 10_000);
  }

  private handleEvent(ev: RtspServerEvent): void {
    if (ev.event !== 'ready' && ev.event !== 'stall_replays' && ev.event !== 'freeze' && ev.event !== 'jump' && ev.event !== 'object' && ev.event !== 'brightness' && ev.event !== 'audio' && ev.mount) {
      let byMount = this.history.get(ev.event);
      if (!byMount) this.history.set(ev.event, (byMount = new Map()));
      let list = byMount.get(ev.mount);
      if (!list) byMount.set(ev.mount, (list = []));
      list.push(ev.wall_ms);
    }
    this.emit('event', ev);
    switch (ev.event) {
      case 'first_rtp':
      case 'first_keyframe':
      case 'media_unprepared':
        this.emit(ev.event, ev);
        break;
      case 'play':
        this.emit('play', ev);
        break;
      case 'replay':
      case 'replay_end':
      case 'replay_aborted':
        this.logReplay(ev);
        this.emit(ev.event, ev);
        break;
      case 'replay_refused':
        this.logReplay(ev);
        this.emit('replay_refused', ev);
        break;
      case 'stall_replays':
        this.emit('stall_replays', ev);
        break;
      case 'freeze':
        this.emit('freeze', ev);
        break;
      case 'jump':
        this.emit('jump', ev);
        break;
    }
  }
}

function tail(s: string): string {
  return s.length > STDERR_TAIL_BYTES ? s.slice(s.length - STDERR_TAIL_BYTES) : s;
}
