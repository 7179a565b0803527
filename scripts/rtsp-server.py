#!/usr/bin/python3
"""Vigil demo RTSP server: synthetic H.264 cameras served by GStreamer's gst-rtsp-server.

Used for demo cameras, integration tests and benchmarks.

  rtsp-server.py --port 0 --mount cam1 --mount 'cam2:width=1280,height=720,pattern=snow,bitrate=2000'

stdout carries machine-readable JSON lines only (one object per line, flushed):
  {"event":"ready","port":N,"address":"127.0.0.1","pid":P,"mounts":["/cam1",...]}
  {"event":"first_rtp","mount":"/cam1","media":1,"wall_ms":1712345678901.2}
  {"event":"first_keyframe","mount":"/cam1","media":1,"wall_ms":1712345678899.7}
  {"event":"media_unprepared","mount":"/cam1","media":1,"wall_ms":...}
  {"event":"play","mount":"/cam1","wall_ms":...}            (a client's PLAY request, every client;
                                                             "replay":true for an edge replay path)
  {"event":"replay","mount":"/cam1","style":"hikvision","start_ms":...,"end_ms":...,"frames":N,"wall_ms":...}
  {"event":"replay_end",...}       (the span was fully sent: EOS, RTCP BYE; frames = frames sent)
  {"event":"replay_aborted",...}   (the replay media was torn down before its end)
  {"event":"replay_refused","mount":"/cam1","style":...,"reason":"...","wall_ms":...}   (404 at DESCRIBE)
  {"event":"stall_replays","on":true,"active":N,"wall_ms":...}   (ack of the stdin command)
  {"event":"object","mount":"/cam1","on":true,"rect":[0.55,0.5,0.4,0.45],"medias":N,"wall_ms":...}   (ack of
                                  "object"; "rect":null and "on":false when hidden)
  {"event":"brightness","mount":"/cam1","level":0.3,"ramp_ms":60000,"medias":N,"wall_ms":...}   (ack of
                                  "brightness"; wall_ms = the ramp's start)
                                  (both scene=still only: another mount is acked with "error":"...")
  {"event":"freeze","mount":"/cam1","on":true,"medias":N,"wall_ms":...}   (ack of "freeze"; an unknown
                                  mount is acked with "error":"..." instead of "medias")
  {"event":"jump","mount":"/cam1","jump_ms":5000,"offset_ms":5000,"medias":N,"wall_ms":...}   (ack of
                                  "jump"; an unknown mount: "error":"..." instead of offset_ms, medias)
  {"event":"audio","mount":"/cam1","mode":"garbage","medias":N,"wall_ms":...}   (ack of "audio"; a mount
                                  without audio or unknown: "error":"..." instead of medias)
Human-readable logs (client connects, errors) go to stderr.

Edge replay (mount keys edge=1, edge_since=<ms since epoch, default: server start>,
edge_until=<ms since epoch, default: none>, edge_tz=<IANA zone, default UTC>): the mount also
answers, for spans inside [edge_since, now],
  /<name>/Streaming/tracks/101?starttime=20261125T101500Z&endtime=20261125T101530Z   (Hikvision, UTC)
  /<name>/cam/playback?channel=1&starttime=2026_11_25_10_15_00&endtime=...           (Dahua, edge_tz)
with a fresh pipeline streaming exactly (end - start) s at real time (key-int-max = fps), then EOS.
With edge_until the card holds nothing after that instant (its last minutes not written, a card
that failed): a span running past it is streamed only up to it, then EOS (the client gets less than
it asked for); a span starting at or after it is refused.
Anything else on those paths gets 404 at DESCRIBE.

stdin commands (one per line):
  "stall-replays 1" blocks the payloader of every running and new replay (RTSP sessions stay open,
  RTCP continues); "stall-replays 0" releases them.
  "freeze <mount> 1" does the same to every media of one live mount (also to media prepared while it
  is frozen): a camera whose encoder or network path froze. "freeze <mount> 0" releases it: the
  live source then pushes every frame it owes at once, back-dated (each with the PTS, RTP timestamp
  and timecode of the instant it was due: no gap, no lost frame in the stream's own timeline), as
  fast as the encoder goes, then runs at real time again. Measured at 15 fps, 640x360: after a 3 s
  freeze the client gets nothing for 3.0 s, then the frame that was blocked (captured just before
  the freeze) and the ~45 captured during it within ~0.1 s, then frames at their usual pace. A
  client that connects to a frozen mount gets its DESCRIBE answered, its PLAY only on release.
  "audio <mount> garbage|drop|ok" (mounts with audio=...): from the next packet on, every audio RTP
  packet of the mount's live media (running and new) carries random bytes instead of its payload (header,
  timestamps and pace unchanged: a microphone or encoder gone bad), or is not sent at all (drop: the
  audio disappears while the video goes on); ok sends it as it is again.
  "jump <mount> <ms>" (whole ms, negative allowed): from now on the RTP timestamps of the mount's
  live streams (running and new) are offset by a further <ms>, all jumps added up (ack offset_ms):
  a camera whose media clock jumps (encoder restart, clock step) without ending the RTSP session.
  Only the RTP header's timestamp is rewritten (90 kHz), after the payloader: the pipeline's own
  timing, the frames' pace and the timecodes stay. A client sees its packets' pts jump by <ms>
  between two frames a frame interval apart.
  "object <mount> <x>:<y>:<w>:<h>" (scene=still mounts): from the next frame on an object moves inside
  that rectangle of the picture (relative 0..1), in every media of the mount (also media prepared
  later); "object <mount> 1" uses the mount's own rectangle (key object), "object <mount> 0" hides it
  and the picture is still again. The ack's wall_ms is when the pipeline took the change.
  "brightness <mount> <level> <ramp_ms>" (scene=still mounts): the whole picture's brightness
  (videobalance, -1..1, 0 = as drawn, +-0.5 = +-128 levels of luma) moves linearly from where it is
  to <level> over <ramp_ms> (0 = at once): a slow dusk or dawn, light and not motion. Each frame gets
  the level of its own capture instant (as smooth as the frame rate allows: at 5 fps a 3 s ramp to 0.3
  is 15 equal steps). The ack's wall_ms is the ramp's start.

scene=still (motion detection tests): a camera that sees nothing happen, then something, at instants
and places the test chooses. The picture is still (75 % colour bars: the same frame every frame, so
only the encoder's noise differs) but for
  - the clock (with clock=1; needs a picture of at least 320x180): the wall clock, HH:MM:SS.mmm of
    each frame's capture instant, burned into the top-left corner as a camera's OSD timestamp. It
    changes in every frame and always lies inside the picture's top-left 30 % x 15 % (the box a mask
    hides);
  - the object, while "object" shows it: a box, white above and black below (one half stands out on
    any background), 25 % of its rectangle wide and 60 % high, sliding left to right across the
    rectangle at 40 % of its travel per second of the stream and starting again at the left edge. Two
    frames 1 s apart show it where it was 0.4 or 0.6 of its travel away: it moves, it does not blink;
    nothing outside the rectangle changes;
  - the brightness, while "brightness" ramps it.
Key object=x:y:w:h (relative, default 0.55:0.5:0.4:0.45) is the rectangle "object <mount> 1" uses.

Burned-in timecode (mount key code=1; needs qroverlay, gstreamer1.0-plugins-bad >= 1.22): every
frame carries a QR code near its bottom-right corner holding "VTC:<integer ms since the Unix
epoch>" (test/support/timecode.ts reads it). Live: the frame's capture instant (its running time on
the pipeline clock, mapped to the wall clock). Edge replay: the replayed span's own instant,
start_ms + round(n * 1000 / fps) for the n-th frame (n from 0), whenever it is sent.

Mount SPEC: name[:key=value,...] with keys width, height, fps, bitrate (kbps), pattern
(videotestsrc pattern nick, e.g. ball, smpte, snow), codec (h264, the default, or h265: x265enc and
rtph265pay, VPS/SPS/PPS in the SDP's sprop-vps/sps/pps and before each keyframe, edge replays too;
not with scene or sprop=0),
gop (keyframe interval in frames,
default = fps i.e. 1 s), shared (1/0), clock (1/0), code (1/0, default 0: the burned-in timecode
above), sprop (1/0, see below), seek (1/0, see below), user, pass (RTSP basic auth for this mount).

seek=0: the mount's media is not seekable (as with sprop=0), so a client's PLAY joins a running shared
stream where it is, mid-GOP, as clients of a real camera's encoder do. With seek=1 (the default) every
PLAY seeks the shared media to npt=0, which flushes it and restarts its encoder at a keyframe: each
joining client then sets back the RTP timestamps of every client already attached (a backward media
clock leap, which Vigil answers by reconnecting: with many cameras on one mount, a storm). Benchmarks
with many clients on one shared mount use seek=0.

sprop=0: the mount's SDP carries no sprop-parameter-sets (its fmtp line only packetization-mode=1),
like cameras whose SDP omits SPS/PPS; they travel only in-band, right before each keyframe. Its
media is not seekable, so a client's PLAY joins a running shared stream where it is (other mounts
restart their shared encoder at a keyframe on every ffmpeg PLAY, which seeks to npt=0): a client
joining mid-GOP learns the picture size only at the next keyframe, and ffmpeg with -probesize 32
-analyzeduration 100000 fails ("Could not find codec parameters ... unspecified size", "dimensions
not set"). A client that starts the media (the first) still gets a keyframe first: give the mount a
long gop and keep a client attached to have others join mid-GOP.
Audio (mount key audio=pcmu|pcma|aac|l16|unknown, default none): the live media also sends a 440 Hz
sine tone as a second stream (pay1), from a live audiotestsrc on the same pipeline clock as the video:
pcmu / pcma = G.711 µ-law / A-law at 8 kHz mono (static payload types 0 / 8), aac = AAC-LC 16 kHz mono
as RFC 3640 mpeg4-generic (avenc_aac, rtpmp4gpay: the SDP's config= carries the AudioSpecificConfig),
l16 = 16-bit PCM at 8 kHz (audio/L16, a codec MP4 does not take), unknown = G.711 bytes under the
encoding name X-VIGIL-UNKNOWN that no decoder knows (a vendor's own codec). Live mounts only (edge replays
stay video only). The stdin command "audio" breaks it (above).
--auth user:pass applies basic auth to every mount that has no user/pass of its own.

Exit codes: 0 on SIGTERM/SIGINT, 2 on a bad command line / SPEC, 3 on missing GStreamer
pieces, 4 when the port cannot be bound.
"""

import argparse
import json
import os
import random
import re
import signal
import sys
import threading
import time

EXIT_USAGE = 2
EXIT_MISSING = 3
EXIT_BIND = 4


def log(msg):
    # Never raise: once the parent is gone stderr is a broken pipe, and an exception here
    # would abort a GLib callback (e.g. the SIGTERM handler) half-way.
    try:
        sys.stderr.write("rtsp-server: %s\n" % msg)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def die(code, msg):
    log("error: %s" % msg)
    sys.exit(code)


_out_lock = threading.Lock()


def emit(obj):
    line = json.dumps(obj, separators=(",", ":"))
    with _out_lock:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, OSError):
            pass


# ---------------------------------------------------------------------------
# SPEC parsing (pure python, done before importing GStreamer so errors are fast)

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
PATTERN_RE = re.compile(r"^[A-Za-z0-9_-]+$")
INT_KEYS = {"width": (16, 7680), "height": (16, 4320), "fps": (1, 120),
            "bitrate": (16, 100000), "gop": (1, 100000)}
BOOL_KEYS = ("shared", "clock", "edge", "code", "sprop", "seek")
STR_KEYS = ("pattern", "user", "pass", "edge_tz", "scene", "object", "codec", "audio")
FLOAT_KEYS = ("edge_since", "edge_until")
# audio=<codec>: the mount also sends a sine tone as a second stream (pay1); see the docstring.
AUDIO_CODECS = ("pcmu", "pcma", "aac", "l16", "unknown")
AUDIO_MODES = ("ok", "garbage", "drop")
AUDIO_ELEMENTS = {"pcmu": ("mulawenc", "rtppcmupay"), "pcma": ("alawenc", "rtppcmapay"),
                  "aac": ("avenc_aac", "aacparse", "rtpmp4gpay"), "l16": ("rtpL16pay",),
                  "unknown": ("mulawenc", "rtppcmupay", "capssetter")}


def parse_bool(key, value):
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ValueError("%s must be 1 or 0, got %r" % (key, value))


def parse_rect(text):
    """[x, y, w, h] of "x:y:w:h", relative to the picture (0..1, inside it, not empty); ValueError."""
    try:
        box = [float(p) for p in text.split(":")]
    except ValueError:
        box = []
    if len(box) != 4 or not all(0 <= v <= 1 for v in box) or box[2] <= 0 or box[3] <= 0 \
            or box[0] + box[2] > 1 + 1e-9 or box[1] + box[3] > 1 + 1e-9:
        raise ValueError("a rectangle must be x:y:w:h inside 0..1, got %r" % text)
    return box


# scene=still: the clock needs this much picture to fit legibly in the top-left 30 % x 15 %.
SCENE_CLOCK_MIN_SIZE = (320, 180)


def parse_mount(spec):
    name, _, rest = spec.partition(":")
    name = name.strip().strip("/")
    if not name or not NAME_RE.match(name):
        raise ValueError("bad mount name %r (allowed: letters, digits, '_', '-', '.', '/')" % name)
    m = {"name": name, "width": 640, "height": 360, "fps": 15, "bitrate": 800,
         "pattern": "ball", "gop": None, "shared": True, "clock": True, "code": False, "sprop": True, "seek": True,
         "user": None, "pass": None, "edge": False, "edge_since": None, "edge_until": None, "edge_tz": None,
         "scene": None, "object": None, "audio": None, "codec": "h264"}
    if rest:
        for item in rest.split(","):
            if not item.strip():
                continue
            if "=" not in item:
                raise ValueError("bad option %r in mount %r (expected key=value)" % (item, name))
            k, v = item.split("=", 1)
            k = k.strip().lower()
            if k in INT_KEYS:
                try:
                    iv = int(v.strip())
                except ValueError:
                    raise ValueError("%s must be an integer, got %r" % (k, v))
                lo, hi = INT_KEYS[k]
                if not lo <= iv <= hi:
                    raise ValueError("%s=%d out of range [%d, %d]" % (k, iv, lo, hi))
                m[k] = iv
            elif k in BOOL_KEYS:
                m[k] = parse_bool(k, v)
            elif k in STR_KEYS:
                m[k] = v
            elif k in FLOAT_KEYS:
                try:
                    fv = float(v.strip())
                except ValueError:
                    raise ValueError("%s must be a number, got %r" % (k, v))
                if not 0 <= fv < 1e15:
                    raise ValueError("%s=%r out of range" % (k, v))
                m[k] = fv
            else:
                raise ValueError("unknown option %r in mount %r (known: %s)" % (
                    k, name, ", ".join(list(INT_KEYS) + list(BOOL_KEYS) + list(STR_KEYS) + list(FLOAT_KEYS))))
    if not PATTERN_RE.match(m["pattern"]):
        raise ValueError("bad pattern %r" % m["pattern"])
    if m["codec"] not in ("h264", "h265"):
        raise ValueError("mount %r: codec must be h264 or h265, got %r" % (name, m["codec"]))
    if m["codec"] == "h265" and (m["scene"] is not None or not m["sprop"]):
        raise ValueError("mount %r: codec=h265 serves the plain picture only (no scene, no sprop=0)" % name)
    if m["audio"] is not None and m["audio"] not in AUDIO_CODECS:
        raise ValueError("mount %r: audio must be one of %s, got %r" % (name, ", ".join(AUDIO_CODECS), m["audio"]))
    if m["scene"] not in (None, "still"):
        raise ValueError("mount %r: scene must be 'still'" % name)
    if m["scene"] == "still":
        # The rectangle an object moves in when "object <mount> 1" shows it.
        try:
            m["object"] = parse_rect(m["object"] or "0.55:0.5:0.4:0.45")
        except ValueError as e:
            raise ValueError("mount %r: object: %s" % (name, e))
        if m["clock"] and (m["width"] < SCENE_CLOCK_MIN_SIZE[0] or m["height"] < SCENE_CLOCK_MIN_SIZE[1]):
            raise ValueError("mount %r: scene=still with clock=1 needs at least %dx%d (or clock=0)"
                             % ((name,) + SCENE_CLOCK_MIN_SIZE))
    elif m["object"] is not None:
        raise ValueError("mount %r: object needs scene=still" % name)
    if (m["user"] is None) != (m["pass"] is None):
        raise ValueError("mount %r: user and pass must be given together" % name)
    if m["user"] is not None and (":" in m["user"] or not m["user"]):
        raise ValueError("mount %r: user must be non-empty and contain no ':'" % name)
    if m["gop"] is None:
        m["gop"] = m["fps"]
    if m["code"] and min(m["width"], m["height"]) < TC_MIN_SIZE:
        raise ValueError("mount %r: code=1 needs at least %dx%d" % (name, TC_MIN_SIZE, TC_MIN_SIZE))
    if not m["edge"] and (m["edge_since"] is not None or m["edge_until"] is not None
                          or m["edge_tz"] is not None):
        raise ValueError("mount %r: edge_since / edge_until / edge_tz need edge=1" % name)
    if m["edge"]:
        tz = m["edge_tz"] or "UTC"
        try:
            import zoneinfo
            m["edge_zone"] = zoneinfo.ZoneInfo(tz)
        except Exception:
            raise ValueError("mount %r: unknown edge_tz %r (IANA name expected)" % (name, tz))
        m["edge_tz"] = tz
    return m


# ---------------------------------------------------------------------------
# scene=still geometry (pure python)

# The object: a box OBJECT_W x OBJECT_H of its rectangle, sliding right by OBJECT_STEP of its travel
# per second and starting again at the left edge: frames 1 s apart show it 0.4 or 0.6 of its travel
# apart, never in the same place.
OBJECT_W, OBJECT_H, OBJECT_STEP = 0.25, 0.6, 0.4
# The clock's text size and margin, relative to the picture: "HH:MM:SS.mmm" in Sans with its shaded
# background measures about 7.5 x 1.75 times the font's pixel size plus twice the margin; at these
# sizes it spans at most ~23 % x 10 % of a picture of 320x180 or more (16:9 or 4:3), inside the
# top-left 30 % x 15 % the docs promise, and stays legible in a 160x90 copy.
CLOCK_FONT_PER_HEIGHT, CLOCK_FONT_PER_WIDTH, CLOCK_PAD_PER_SIZE = 0.07, 0.03, 0.01


def scene_clock_font(width, height):
    """(font pixel size, margin in pixels) of a scene=still clock."""
    px = max(4, int(min(CLOCK_FONT_PER_HEIGHT * height, CLOCK_FONT_PER_WIDTH * width)))
    return px, max(1, int(CLOCK_PAD_PER_SIZE * min(width, height)))


def object_boxes(rect, width, height, t_s):
    """The object's two halves at stream time t_s (s), in pixels: ((x, y, w, h) white, (x, y, w, h)
    black), both inside the rectangle rect = [x, y, w, h] (relative) of a width x height picture."""
    import math
    x0, x1 = int(math.ceil(rect[0] * width)), int(math.floor((rect[0] + rect[2]) * width))
    y0, y1 = int(math.ceil(rect[1] * height)), int(math.floor((rect[1] + rect[3]) * height))
    rw, rh = max(2, x1 - x0), max(2, y1 - y0)
    bw, bh = max(1, int(round(rw * OBJECT_W))), max(2, int(round(rh * OBJECT_H)))
    x = x0 + int((t_s * OBJECT_STEP) % 1.0 * max(0, rw - bw))
    y = y0 + (rh - bh) // 2
    top = bh // 2
    return (x, y, bw, top), (x, y + top, bw, bh - top)


# ---------------------------------------------------------------------------
# Burned-in timecode (code=1): a QR code drawn by qroverlay, "VTC:<integer ms since the epoch>"
# (17 bytes: a 25x25-module version 2 code at error correction level M). One module is
# TC_MODULE_PER * min(width, height) pixels, at least 2 (4 px at 640x360: decodes from every frame
# of 640x360 H.264 at 800 kbps, and of pattern=snow at 2000 kbps, and from a JPEG of one at -q:v 5);
# qroverlay adds a white quiet zone of 4 modules around the 25, so the code takes 33 modules square.

TC_PREFIX = "VTC:"
TC_MODULE_PER = 1.0 / 90
TC_MODULES = 25 + 2 * 4
TC_MIN_SIZE = 2 * TC_MODULES
# Position of the code's top-left corner in percent of (frame size - code size): bottom-right,
# clear of the clock at the top-left, a few pixels in from the edges.
TC_X_PERCENT, TC_Y_PERCENT = 98.0, 96.0
G_TYPE_STRING = 16 << 2  # G_TYPE_MAKE_FUNDAMENTAL (16), fixed by the GLib ABI


def tc_pixel_size(width, height):
    return max(2, int(min(width, height) * TC_MODULE_PER))


def tc_payload(ms):
    return "%s%d" % (TC_PREFIX, int(round(ms)))


# ---------------------------------------------------------------------------
# Edge replay requests (pure python)

REPLAY_STYLES = (("hikvision", "Streaming/tracks/101"), ("dahua", "cam/playback"))
HIK_TIME_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$")
DAHUA_TIME_RE = re.compile(r"^(\d{4})_(\d{2})_(\d{2})_(\d{2})_(\d{2})_(\d{2})$")


def parse_query(query):
    from urllib.parse import unquote
    out = {}
    for part in (query or "").split("&"):
        if part:
            k, _, v = part.partition("=")
            out[unquote(k).lower()] = unquote(v)
    return out


def parse_replay_span(m, style, query):
    """(start_ms, end_ms) of a replay request's query; ValueError(reason) when malformed.

    Hikvision: starttime=20261125T101500Z (UTC). Dahua: starttime=2026_11_25_10_15_00 in the
    mount's edge_tz (an ambiguous wall time in a DST fall-back hour is read with fold=0)."""
    import datetime
    q = parse_query(query)
    if style == "hikvision":
        rx, tz = HIK_TIME_RE, datetime.timezone.utc
    else:
        rx, tz = DAHUA_TIME_RE, m["edge_zone"]
        if q.get("channel", "1") != "1":
            raise ValueError("no channel %r on this camera" % q.get("channel"))

    def instant(key):
        v = q.get(key)
        if v is None:
            raise ValueError("missing %s" % key)
        mt = rx.match(v)
        if not mt:
            raise ValueError("malformed %s %r" % (key, v))
        try:
            dt = datetime.datetime(*[int(g) for g in mt.groups()], tzinfo=tz)
        except ValueError as e:
            raise ValueError("invalid %s %r: %s" % (key, v, e))
        return dt.timestamp() * 1000.0

    start_ms, end_ms = instant("starttime"), instant("endtime")
    if end_ms <= start_ms:
        raise ValueError("endtime is not after starttime")
    return start_ms, end_ms


def parse_args(argv):
    p = argparse.ArgumentParser(description="Synthetic H.264 RTSP cameras (gst-rtsp-server).")
    p.add_argument("--port", type=int, default=8554, help="TCP port, 0 = pick a free one (default 8554)")
    p.add_argument("--address", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--mount", action="append", default=[], metavar="SPEC",
                   help="name[:key=value,...]; repeatable (default: one mount 'cam1')")
    p.add_argument("--auth", metavar="USER:PASS",
                   help="basic auth for every mount without its own user/pass")
    p.add_argument("--exit-on-stdin-eof", action="store_true",
                   help="exit when stdin reaches EOF (parent died)")
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        die(EXIT_USAGE, "--port must be in 0..65535")
    specs = args.mount or ["cam1"]
    mounts = []
    seen = set()
    for s in specs:
        try:
            m = parse_mount(s)
        except ValueError as e:
            die(EXIT_USAGE, "bad --mount %r: %s" % (s, e))
        if m["name"] in seen:
            die(EXIT_USAGE, "duplicate mount %r" % m["name"])
        seen.add(m["name"])
        mounts.append(m)
    if args.auth is not None:
        user, sep, pw = args.auth.partition(":")
        if not sep or not user:
            die(EXIT_USAGE, "--auth must be USER:PASS")
        for m in mounts:
            if m["user"] is None:
                m["user"], m["pass"] = user, pw
    return args, mounts


def make_timecode_writer(Gst):
    """write(buffer_ptr, payload) -> bool: attaches to the GstBuffer* `buffer_ptr` (a pad probe's
    info.data, in the streaming thread) the GstQROverlayMeta that makes qroverlay draw `payload` on
    that very buffer. Exits 3 when that is not possible here.

    Why not the element's `data` property, set from the probe: qroverlay 1.22.0 encodes `data` once
    and then draws that first picture forever (its get_content answers reuse_prev = data_changed, a
    flag set by every property write and never cleared; fixed upstream later), so the code would not
    change from frame to frame. A GstQROverlayMeta on the buffer (qroverlay >= 1.22) is drawn afresh
    for every buffer. PyGObject cannot add it: the Gst.Buffer it wraps holds its own reference, so
    the buffer is never writable from Python. The GstBuffer* itself is (refcount 1 in the source's
    streaming thread), so the meta is added with libgstreamer's C API through ctypes."""
    if (Gst.version()[0], Gst.version()[1]) < (1, 22):
        die(EXIT_MISSING, "code=1 needs GStreamer >= 1.22 (qroverlay's per-buffer GstQROverlayMeta); "
            "this is %s" % Gst.version_string())
    try:
        import ctypes
        import ctypes.util
        lib = ctypes.CDLL(ctypes.util.find_library("gstreamer-1.0") or "libgstreamer-1.0.so.0")
        is_writable = lib.gst_mini_object_is_writable
        is_writable.argtypes, is_writable.restype = [ctypes.c_void_p], ctypes.c_int
        add_meta = lib.gst_buffer_add_custom_meta
        add_meta.argtypes, add_meta.restype = [ctypes.c_void_p, ctypes.c_char_p], ctypes.c_void_p
        get_structure = lib.gst_custom_meta_get_structure
        get_structure.argtypes, get_structure.restype = [ctypes.c_void_p], ctypes.c_void_p
        structure_set = lib.gst_structure_set  # variadic: (structure, name, GType, value, ..., NULL)
        structure_set.restype = None
    except (ImportError, OSError, AttributeError) as e:
        die(EXIT_MISSING, "code=1: cannot reach libgstreamer-1.0 through ctypes (%s); "
            "apt-get install libgstreamer1.0-0 gstreamer1.0-plugins-bad" % e)

    def write(buffer_ptr, payload):
        if not buffer_ptr or not is_writable(buffer_ptr):
            return False
        meta = add_meta(buffer_ptr, b"GstQROverlayMeta")  # registered by qroverlay's class
        if not meta:
            return False
        structure_set(ctypes.c_void_p(get_structure(meta)), ctypes.c_char_p(b"data"),
                      ctypes.c_size_t(G_TYPE_STRING), ctypes.c_char_p(payload.encode("ascii")),
                      ctypes.c_void_p(None))
        return True

    return write


RAMP_HISTORY_MS = 10000  # brightness ramps kept after a newer one started (for frames still in flight)
RTP_CLOCK_PER_MS = 90  # H.264's RTP clock, 90 kHz
# sizeof(GstRTPBuffer) is 496 bytes on 64-bit: room to spare. All zero is GST_RTP_BUFFER_INIT.
RTP_BUFFER_STRUCT_BYTES = 1024
GST_MAP_READWRITE = 3


def make_rtp_payload_garbler(Gst):
    """garble(data_ptr, is_list) -> packets it could not rewrite: overwrites the whole RTP payload of the
    buffer, or of every buffer of the list, at `data_ptr` with random bytes (the RTP header stays, so
    the packets still arrive in order, on time, on their stream). Through ctypes for the reason
    make_rtp_timestamp_shifter gives."""
    try:
        import ctypes
        import ctypes.util
        gst = ctypes.CDLL(ctypes.util.find_library("gstreamer-1.0") or "libgstreamer-1.0.so.0")
        rtp = ctypes.CDLL(ctypes.util.find_library("gstrtp-1.0") or "libgstrtp-1.0.so.0")
        is_writable = gst.gst_mini_object_is_writable
        is_writable.argtypes, is_writable.restype = [ctypes.c_void_p], ctypes.c_int
        list_length = gst.gst_buffer_list_length
        list_length.argtypes, list_length.restype = [ctypes.c_void_p], ctypes.c_uint
        list_get = gst.gst_buffer_list_get
        list_get.argtypes, list_get.restype = [ctypes.c_void_p, ctypes.c_uint], ctypes.c_void_p
        rtp_map = rtp.gst_rtp_buffer_map
        rtp_map.argtypes, rtp_map.restype = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p], ctypes.c_int
        get_payload = rtp.gst_rtp_buffer_get_payload
        get_payload.argtypes, get_payload.restype = [ctypes.c_void_p], ctypes.c_void_p
        get_len = rtp.gst_rtp_buffer_get_payload_len
        get_len.argtypes, get_len.restype = [ctypes.c_void_p], ctypes.c_uint
        unmap = rtp.gst_rtp_buffer_unmap
        unmap.argtypes, unmap.restype = [ctypes.c_void_p], None
    except (ImportError, OSError, AttributeError) as e:
        die(EXIT_MISSING, "audio garbage: cannot reach libgstrtp-1.0 through ctypes (%s); "
            "apt-get install libgstreamer-plugins-base1.0-0" % e)

    def garble_one(buffer_ptr):
        if not buffer_ptr or not is_writable(buffer_ptr):
            return False
        st = ctypes.create_string_buffer(RTP_BUFFER_STRUCT_BYTES)
        if not rtp_map(buffer_ptr, GST_MAP_READWRITE, st):
            return False
        n = get_len(st)
        if n:
            ctypes.memmove(get_payload(st), os.urandom(n), n)
        unmap(st)
        return True

    def garble(data_ptr, is_list):
        if not is_list:
            return 0 if garble_one(data_ptr) else 1
        n = list_length(data_ptr)
        return sum(0 if garble_one(list_get(data_ptr, i)) else 1 for i in range(n))

    return garble


def make_rtp_timestamp_shifter(Gst):
    """shift(data_ptr, is_list, ticks) -> packets it could not rewrite: adds `ticks` (mod 2^32) to the
    RTP timestamp of the RTP buffer, or of every buffer of the buffer list, at the GstBuffer* /
    GstBufferList* `data_ptr` (a pad probe's info.data, in the streaming thread). Through ctypes for
    the reason make_timecode_writer gives: a buffer wrapped by PyGObject is never writable, and
    GstRtp.RTPBuffer.map(..., WRITE) needs it so; the GstBuffer* itself is (refcount 1 on its way
    out of the payloader). Exits 3 when libgstrtp cannot be reached."""
    try:
        import ctypes
        import ctypes.util
        gst = ctypes.CDLL(ctypes.util.find_library("gstreamer-1.0") or "libgstreamer-1.0.so.0")
        rtp = ctypes.CDLL(ctypes.util.find_library("gstrtp-1.0") or "libgstrtp-1.0.so.0")
        is_writable = gst.gst_mini_object_is_writable
        is_writable.argtypes, is_writable.restype = [ctypes.c_void_p], ctypes.c_int
        list_length = gst.gst_buffer_list_length
        list_length.argtypes, list_length.restype = [ctypes.c_void_p], ctypes.c_uint
        list_get = gst.gst_buffer_list_get
        list_get.argtypes, list_get.restype = [ctypes.c_void_p, ctypes.c_uint], ctypes.c_void_p
        rtp_map = rtp.gst_rtp_buffer_map
        rtp_map.argtypes, rtp_map.restype = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p], ctypes.c_int
        get_ts = rtp.gst_rtp_buffer_get_timestamp
        get_ts.argtypes, get_ts.restype = [ctypes.c_void_p], ctypes.c_uint32
        set_ts = rtp.gst_rtp_buffer_set_timestamp
        set_ts.argtypes, set_ts.restype = [ctypes.c_void_p, ctypes.c_uint32], None
        unmap = rtp.gst_rtp_buffer_unmap
        unmap.argtypes, unmap.restype = [ctypes.c_void_p], None
    except (ImportError, OSError, AttributeError) as e:
        die(EXIT_MISSING, "jump: cannot reach libgstrtp-1.0 through ctypes (%s); "
            "apt-get install libgstreamer-plugins-base1.0-0" % e)

    def shift_one(buffer_ptr, ticks):
        if not buffer_ptr or not is_writable(buffer_ptr):
            return False
        st = ctypes.create_string_buffer(RTP_BUFFER_STRUCT_BYTES)
        if not rtp_map(buffer_ptr, GST_MAP_READWRITE, st):
            return False
        set_ts(st, (get_ts(st) + ticks) & 0xFFFFFFFF)
        unmap(st)
        return True

    def shift(data_ptr, is_list, ticks):
        if not is_list:
            return 0 if shift_one(data_ptr, ticks) else 1
        n = list_length(data_ptr)
        return sum(0 if shift_one(list_get(data_ptr, i), ticks) else 1 for i in range(n))

    return shift


# ---------------------------------------------------------------------------

def main(argv):
    started_ms = time.time() * 1000.0
    args, mounts = parse_args(argv)

    try:
        import gi
        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        gi.require_version("GstRtsp", "1.0")
        from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
    except (ImportError, ValueError) as e:
        die(EXIT_MISSING, "cannot import GStreamer RTSP server bindings (%s); "
            "apt-get install python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0" % e)

    Gst.init(None)

    required = {"videotestsrc": "gstreamer1.0-plugins-base", "videoconvert": "gstreamer1.0-plugins-base",
                "x264enc": "gstreamer1.0-plugins-ugly", "h264parse": "gstreamer1.0-plugins-bad",
                "rtph264pay": "gstreamer1.0-plugins-good"}
    if any(m["code"] for m in mounts):
        required["qroverlay"] = "gstreamer1.0-plugins-bad"
    if any(m["codec"] == "h265" for m in mounts):
        required["x265enc"] = required["h265parse"] = "gstreamer1.0-plugins-bad"
        required["rtph265pay"] = "gstreamer1.0-plugins-good"
    for codec, elements in AUDIO_ELEMENTS.items():
        if any(m["audio"] == codec for m in mounts):
            required["audiotestsrc"] = required["audioconvert"] = "gstreamer1.0-plugins-base"
            for e in elements:
                required[e] = "gstreamer1.0-libav" if e == "avenc_aac" else "gstreamer1.0-plugins-good"
    if any(m["scene"] == "still" for m in mounts):
        required["compositor"] = required["videobalance"] = "gstreamer1.0-plugins-base"
    missing = [(e, pkg) for e, pkg in required.items() if Gst.ElementFactory.find(e) is None]
    if missing:
        die(EXIT_MISSING, "missing GStreamer elements: %s; apt-get install %s" % (
            ", ".join(e for e, _ in missing), " ".join(sorted(set(p for _, p in missing)))))
    write_timecode = make_timecode_writer(Gst) if any(m["code"] for m in mounts) else None
    shift_rtp_timestamps = make_rtp_timestamp_shifter(Gst)
    garble_rtp_payloads = make_rtp_payload_garbler(Gst)
    have_clock = Gst.ElementFactory.find("clockoverlay") is not None
    have_timeoverlay = Gst.ElementFactory.find("timeoverlay") is not None
    have_text = Gst.ElementFactory.find("textoverlay") is not None
    if not have_clock and any(m["clock"] for m in mounts):
        log("clockoverlay not available (gstreamer1.0-plugins-base pango plugin); streams will have no clock")

    # Validate videotestsrc patterns against the real enum.
    vts = Gst.ElementFactory.make("videotestsrc", None)
    for m in mounts:
        try:
            Gst.util_set_object_arg(vts, "pattern", m["pattern"])
        except Exception:  # pragma: no cover - set_object_arg only warns
            pass
        enum_val = vts.get_property("pattern")
        nick = getattr(enum_val, "value_nick", None)
        if nick != m["pattern"] and str(int(enum_val)) != m["pattern"]:
            die(EXIT_USAGE, "mount %r: unknown videotestsrc pattern %r" % (m["name"], m["pattern"]))
        Gst.util_set_object_arg(vts, "pattern", "smpte")

    loop = GLib.MainLoop()
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))

    media_counter = {"n": 0}
    counter_lock = threading.Lock()

    def payloader_launch(m):
        return ("! rtph264pay name=pay0 pt=96 config-interval=1 " if m["sprop"] else
                # x264 writes SPS and PPS into each keyframe's access unit of a byte stream, in
                # their place (before its SEI); the payloader then sends them as they come.
                "! video/x-h264,stream-format=byte-stream,alignment=au ! identity name=encoded ")

    def scene_launch(m):
        """scene=still: the still picture (75 % colour bars, sink_0) and the object's two halves (white
        sink_1, black sink_2: small solid sources the compositor scales and places, hidden by alpha 0
        until "object" shows them; the scene probe moves them frame by frame), then a videobalance
        named light (brightness; never in passthrough, whose switch to processing mid-stream stalls
        the pipeline), then the clock (a textoverlay the scene probe writes each frame's capture
        instant into), drawn after the light as a camera's OSD is."""
        w, h, fps = m["width"], m["height"], m["fps"]
        overlay = ""
        if m["clock"] and have_text:
            px, pad = scene_clock_font(w, h)
            overlay = ('textoverlay name=clock auto-resize=false halignment=left valignment=top xpad=%d ypad=%d '
                       'shaded-background=true font-desc="Sans %dpx" ! ' % (pad, pad, px))
        solid = "! video/x-raw,width=16,height=16,framerate=%d/1 " % fps
        return ("( compositor name=scene background=black sink_1::alpha=0 sink_2::alpha=0 "
                "! video/x-raw,width=%d,height=%d,framerate=%d/1 ! videobalance name=light saturation=0.999 "
                "! %s%svideoconvert ! video/x-raw,format=I420 "
                "! x264enc tune=zerolatency speed-preset=ultrafast bitrate=%d key-int-max=%d "
                "! h264parse %s"
                "videotestsrc is-live=true pattern=smpte75 ! video/x-raw,width=%d,height=%d,framerate=%d/1 ! scene.sink_0 "
                "videotestsrc is-live=true pattern=white %s! scene.sink_1 "
                "videotestsrc is-live=true pattern=black %s! scene.sink_2 )"
                % (w, h, fps, overlay, timecode_launch(m), m["bitrate"], m["gop"], payloader_launch(m),
                   w, h, fps, solid, solid))

    def encoder_launch(m):
        """The encoder and parser of a live mount: x264 (default) or, with codec=h265, x265 (no B-frames
        under zerolatency, as for x264; the payloader repeats VPS/SPS/PPS before each keyframe)."""
        if m["codec"] == "h265":
            # I420 stated: left to negotiate, videoconvert hands x265 4:4:4 12-bit (a Rext stream).
            return ("video/x-raw,format=I420 ! x265enc tune=zerolatency speed-preset=ultrafast bitrate=%d key-int-max=%d "
                    "! h265parse" % (m["bitrate"], m["gop"]))
        return ("x264enc tune=zerolatency speed-preset=ultrafast bitrate=%d key-int-max=%d "
                "! h264parse" % (m["bitrate"], m["gop"]))

    def add_audio(m, launch):
        """A live media's pipeline with the mount's audio stream (pay1) added, when it has one: a 440 Hz
        sine from a live audiotestsrc on the pipeline clock, as a camera's microphone on its encoder's
        clock (the RTSP server sends RTCP sender reports for both streams from that one clock)."""
        codec = m["audio"]
        if codec is None:
            return launch
        src = "audiotestsrc is-live=true wave=sine freq=440 volume=0.3 samplesperbuffer=160 ! audioconvert "
        if codec == "pcmu":
            branch = "! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0"
        elif codec == "pcma":
            branch = "! audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8"
        elif codec == "aac":
            # AAC-LC, 16 kHz mono, RFC 3640 (mpeg4-generic, AU headers; the SDP's config= carries the
            # AudioSpecificConfig), as cameras send it.
            branch = ("! audio/x-raw,rate=16000,channels=1 ! avenc_aac bitrate=32000 ! aacparse "
                      "! rtpmp4gpay name=pay1 pt=97")
        elif codec == "l16":
            branch = "! audio/x-raw,format=S16BE,rate=8000,channels=1 ! rtpL16pay name=pay1 pt=98"
        else:
            # unknown: G.711 bytes under an encoding name no decoder knows (a vendor's own codec).
            branch = ("! audio/x-raw,rate=8000,channels=1 ! mulawenc "
                      "! rtppcmupay pt=99 ! capssetter name=pay1 replace=false "
                      "caps=\"application/x-rtp,encoding-name=(string)X-VIGIL-UNKNOWN,payload=(int)99\"")
        assert launch.rstrip().endswith(")")
        return launch.rstrip()[:-1] + " " + src + branch + " )"

    def make_launch(m):
        if m["scene"] == "still":
            return scene_launch(m)
        overlay = ""
        if m["clock"] and have_clock:
            overlay = ('clockoverlay text="%s" time-format="%%Y-%%m-%%d %%H:%%M:%%S" '
                       'halignment=left valignment=top shaded-background=true font-desc="Sans 14" ! ' % m["name"])
        return ("( videotestsrc is-live=true pattern=%s "
                "! video/x-raw,width=%d,height=%d,framerate=%d/1 "
                "! %s%svideoconvert "
                "! %s %s)"
                % (m["pattern"], m["width"], m["height"], m["fps"], overlay, timecode_launch(m),
                   encoder_launch(m),
                   "! rtph265pay name=pay0 pt=96 config-interval=1 " if m["codec"] == "h265" else
                   "! rtph264pay name=pay0 pt=96 config-interval=1 " if m["sprop"] else
                   # x264 writes SPS and PPS into each keyframe's access unit of a byte stream, in
                   # their place (before its SEI); the payloader then sends them as they come.
                   "! video/x-h264,stream-format=byte-stream,alignment=au ! identity name=encoded "))

    def sprop_free_payloader(fps):
        """The payloader of a sprop=0 mount: a bin named pay0 (gst-rtsp-server takes a bin as a
        stream's payloader and writes the SDP from the caps on its "src" pad) holding rtph264pay and a
        capssetter that passes the payloader's caps on without sprop-parameter-sets. rtph264pay puts
        SPS/PPS in its caps once it has seen them, with no option against it, and capssetter can only
        set fields: the caps are written out whole, with the ssrc and the timestamp and seqnum bases
        drawn here (at random, as the payloader would) and set on the payloader too, so the RTP session
        and the SDP name the stream the packets carry. In-band, SPS and PPS come right before every
        keyframe, where the encoder wrote them (config-interval=0; the other mounts' payloader adds
        them every second, and config-interval=-1 would send them between the keyframe's SEI and its
        slice, which splits the access unit in two for ffmpeg), so a client that joins mid-GOP learns
        the picture size only at the next keyframe."""
        ssrc, ts_base, seq_base = random.getrandbits(32), random.getrandbits(32), random.getrandbits(15)
        pay = Gst.ElementFactory.make("rtph264pay", None)
        pay.set_property("pt", 96)
        pay.set_property("config-interval", 0)
        pay.set_property("ssrc", ssrc)
        pay.set_property("timestamp-offset", ts_base)
        pay.set_property("seqnum-offset", seq_base)
        setter = Gst.ElementFactory.make("capssetter", None)
        setter.set_property("replace", True)
        setter.set_property("caps", Gst.Caps.from_string(
            "application/x-rtp,media=(string)video,clock-rate=(int)90000,encoding-name=(string)H264,"
            "payload=(int)96,packetization-mode=(string)1,a-framerate=(string)%d,ssrc=(uint)%d,"
            "timestamp-offset=(uint)%d,seqnum-offset=(uint)%d" % (fps, ssrc, ts_base, seq_base)))
        bin_ = Gst.Bin.new("pay0")
        bin_.add(pay)
        bin_.add(setter)
        pay.link(setter)
        bin_.add_pad(Gst.GhostPad.new("sink", pay.get_static_pad("sink")))
        bin_.add_pad(Gst.GhostPad.new("src", setter.get_static_pad("src")))
        return bin_

    class SpropFreeFactory(GstRtspServer.RTSPMediaFactory):
        """A live mount whose SDP lacks sprop-parameter-sets (sprop=0), as some cameras' do."""

        def __init__(self, m):
            GstRtspServer.RTSPMediaFactory.__init__(self)
            self.m = m
            # Not seekable (gst-rtsp-server deems a media that publishes its clock and offset so): a
            # client's PLAY joins the running stream. The other mounts' videotestsrc answers seeks,
            # so gst-rtsp-server seeks their media to the PLAY's Range (ffmpeg sends npt=0.000-),
            # which flushes it and restarts the encoder at a keyframe: no client joins them mid-GOP.
            self.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)

        def do_create_element(self, _url):
            try:
                element = Gst.parse_launch(add_audio(self.m, make_launch(self.m)))
            except GLib.Error as e:
                log("pipeline error: %s" % e.message)
                return None
            pay = sprop_free_payloader(self.m["fps"])
            element.add(pay)
            if not element.get_by_name("encoded").link(pay):
                log("cannot link the sprop=0 payloader of %s" % self.m["name"])
                return None
            return element

    def timecode_launch(m):
        """The qroverlay of a code=1 mount (named "tc"; its content comes from attach_timecode)."""
        if not m["code"]:
            return ""
        return ("qroverlay name=tc x=%.1f y=%.1f pixel-size=%d qrcode-error-correction=1 ! "
                % (TC_X_PERCENT, TC_Y_PERCENT, tc_pixel_size(m["width"], m["height"])))

    def attach_timecode(element, what, instant_ms):
        """Makes the qroverlay "tc" of a media draw, on every frame, "VTC:<instant_ms(pad, pts, n)>"
        for the n-th frame (n from 0) with presentation time `pts`: a BUFFER probe on its sink pad
        writes the payload in the streaming thread that then draws that very buffer."""
        qr = element.get_by_name("tc") if element is not None else None
        if qr is None:
            log("warning: code=1 media without its qroverlay (%s)" % what)
            return
        st = {"n": 0, "failed": 0}

        def buffer_pts(info):
            # The Python wrapper of the buffer holds a reference (the buffer is not writable while it
            # lives): it is gone when this returns.
            return info.get_buffer().pts

        def on_buffer(pad, info):
            n = st["n"]
            st["n"] = n + 1
            payload = tc_payload(instant_ms(pad, buffer_pts(info), n))
            if not write_timecode(info.data, payload):
                st["failed"] += 1
                if st["failed"] in (1, 100, 10000):
                    log("warning: %s: no timecode on %d frame(s) (buffer not writable)" % (what, st["failed"]))
            return Gst.PadProbeReturn.OK

        qr.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_buffer)

    def live_instant(element, what):
        """instant_ms for attach_timecode on a live media: the frame's capture instant on the wall
        clock. A live videotestsrc stamps each frame with the running time it is due at (its PTS, in
        a segment from 0; the RTP timestamp derives from it too), so on the pipeline clock the frame
        is captured at element base_time + running time. That is mapped to the wall clock with one
        offset (time.time() - clock time) taken now, when the media is configured, from the clock its
        pipeline will use (gst-rtsp-server leaves the default: the system clock; the two clocks tick
        at the same rate, so one sample holds for the media's life). The probe's own time.time() is
        not used: it jitters with scheduling, and the thread reaches the probe late by however long
        the previous frame held it downstream (~20 ms in steady state here)."""
        clock = Gst.SystemClock.obtain()
        before = time.time()
        clock_ns = clock.get_time()
        offset_ms = (before + time.time()) * 500.0 - clock_ns / 1e6
        st = {"warned": False}

        def instant(pad, pts, _n):
            elem_clock = element.get_clock()
            if elem_clock is not None and elem_clock != clock and not st["warned"]:
                st["warned"] = True
                log("warning: %s runs on %s, not the system clock: timecodes are off" % (what, elem_clock))
            ev = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
            rt = ev.parse_segment().to_running_time(Gst.Format.TIME, pts) if ev is not None else pts
            return (element.get_base_time() + rt) / 1e6 + offset_ms

        return instant

    def replay_instant(start_ms, fps):
        """instant_ms for attach_timecode on an edge replay: the replayed span's own time, whenever it is
        sent — frame n of the span shows start_ms + round(n * 1000 / fps). n is counted on the
        source's timeline, (pts - first pts) * fps, not in buffers: the client's PLAY (ffmpeg sends
        Range: npt=0.000-) makes gst-rtsp-server seek the prerolled media, which flushes the frame
        already made and starts the span again at the same PTS; that first frame never reaches the
        client, and counting buffers would label the client's first frame start + 1/fps."""
        s0 = int(round(start_ms))
        st = {"pts0": None}

        def instant(_pad, pts, _n):
            if st["pts0"] is None:
                st["pts0"] = pts
            n = int(round((pts - st["pts0"]) * fps / float(Gst.SECOND)))
            return s0 + int(round(n * 1000.0 / fps))

        return instant

    # --- freeze: the live payloader of every media of a mount blocked (RTSP sessions stay open, RTCP
    # goes on), as a camera whose encoder or network path froze; released, the source sends what it
    # owes at once.
    mount_by_path = dict(("/" + m["name"], m) for m in mounts)
    freeze_lock = threading.Lock()
    freeze_state = {"frozen": set(), "medias": {}}

    def block_pad(st, want):
        """Blocks (a BLOCK probe: the streaming thread waits) or releases the payloader pad of a media
        state {"pad", "probe"}; callers hold their lock and pass want only once the media is prepared
        (gst-rtsp-server needs the first buffer to answer DESCRIBE; a flush at teardown releases)."""
        if want and st["probe"] is None:
            st["probe"] = st["pad"].add_probe(
                Gst.PadProbeType.BLOCK | Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST,
                lambda _pad, _info: Gst.PadProbeReturn.OK)
        elif not want and st["probe"] is not None:
            st["pad"].remove_probe(st["probe"])
            st["probe"] = None

    def apply_freeze(mount_path, st):
        # Called with freeze_lock held.
        block_pad(st, mount_path in freeze_state["frozen"] and st["prepared"] and not st["ended"])

    def set_freeze(name, on):
        path = "/" + name.strip("/")
        now = time.time() * 1000.0
        if path not in mount_by_path:
            log("freeze: no mount %s" % path)
            emit({"event": "freeze", "mount": path, "on": on, "error": "no such mount", "wall_ms": now})
            return
        with freeze_lock:
            if on:
                freeze_state["frozen"].add(path)
            else:
                freeze_state["frozen"].discard(path)
            medias = freeze_state["medias"].get(path, {})
            for st in medias.values():
                apply_freeze(path, st)
            n = len(medias)
        log("mount %s %s (%d medias)" % (path, "frozen" if on else "released", n))
        emit({"event": "freeze", "mount": path, "on": on, "medias": n, "wall_ms": time.time() * 1000.0})

    # --- scene=still mounts: the object shown in a rectangle or hidden ("object"), the brightness moved
    # linearly to a level over a time ("brightness"), on every media of the mount, also on media
    # prepared later. Per media: its compositor's object pads, its light and clock, and the stream time
    # of its next frame. Per mount: the rectangle (None: hidden) and the brightness ramps, newest last.
    scene_lock = threading.Lock()
    scene_state = {"medias": {}, "object": {}, "ramps": {}}

    def light_level(path, at_ms):
        """The mount's brightness at wall-clock instant at_ms: on the newest ramp started by then."""
        level = 0.0
        for r in scene_state["ramps"].get(path, []):
            if r["t0"] > at_ms:
                break
            if r["dur"] <= 0 or at_ms >= r["t0"] + r["dur"]:
                level = r["to"]
            else:
                level = r["from"] + (r["to"] - r["from"]) * (at_ms - r["t0"]) / r["dur"]
        return level

    def place_object(path, sm):
        """Shows the mount's object where it is at the media's next frame, or hides it. scene_lock held."""
        rect = scene_state["object"].get(path)
        m = mount_by_path[path]
        if rect is not None:
            for pad, (x, y, bw, bh) in zip(sm["pads"], object_boxes(rect, m["width"], m["height"], sm["next_s"])):
                pad.set_property("xpos", x)
                pad.set_property("ypos", y)
                pad.set_property("width", bw)
                pad.set_property("height", bh)
        for pad in sm["pads"]:
            pad.set_property("alpha", 1.0 if rect is not None else 0.0)

    def attach_scene(element, path, media_id, what):
        """Registers a scene=still media and adds the probe that, as each frame leaves the compositor,
        sets the light (the brightness at the frame's capture instant) and the clock (that instant) the
        frame then passes through, and places the object for the next frame (at its stream time, this
        frame's PTS + duration): every frame shows its own instant, so a ramp is smooth at any rate."""
        comp = element.get_by_name("scene")
        pads = [comp.get_static_pad("sink_1"), comp.get_static_pad("sink_2")] if comp is not None else []
        light, clock = element.get_by_name("light"), element.get_by_name("clock")
        if len(pads) != 2 or None in pads or light is None:
            log("warning: scene=still media without its object pads or light (%s)" % what)
            return
        sm = {"pads": pads, "next_s": 0.0, "level": None}
        with scene_lock:
            scene_state["medias"].setdefault(path, {})[media_id] = sm
            place_object(path, sm)
        instant = live_instant(element, what)

        def on_frame(pad, info):
            buf = info.get_buffer()
            if buf is None or buf.pts == Gst.CLOCK_TIME_NONE:
                return Gst.PadProbeReturn.OK
            pts, dur = buf.pts, buf.duration if buf.duration != Gst.CLOCK_TIME_NONE else 0
            captured_ms = instant(pad, pts, 0)
            with scene_lock:
                level = light_level(path, captured_ms)
                sm["next_s"] = (pts + dur) / float(Gst.SECOND)
                if scene_state["object"].get(path) is not None:
                    place_object(path, sm)
            if level != sm["level"]:  # only changes: each one rebuilds videobalance's tables
                sm["level"] = level
                light.set_property("brightness", level)
            if clock is not None:
                clock.set_property("text", "%s.%03d" % (time.strftime("%H:%M:%S", time.localtime(captured_ms // 1000)),
                                                         int(captured_ms % 1000)))
            return Gst.PadProbeReturn.OK

        comp.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_frame)

    def detach_scene(path, media_id):
        with scene_lock:
            scene_state["medias"].get(path, {}).pop(media_id, None)

    def scene_mount(name, what, fields):
        path = "/" + name.strip("/")
        m = mount_by_path.get(path)
        if m is None or m["scene"] != "still":
            log("%s: no scene=still mount %s" % (what, path))
            emit(dict(fields, event=what, mount=path, error="no scene=still mount", wall_ms=time.time() * 1000.0))
            return None
        return path

    def set_object(name, rect):
        """rect: [x, y, w, h] (relative), True (the mount's own rectangle) or None (hidden)."""
        path = scene_mount(name, "object", {"on": rect is not None})
        if path is None:
            return
        if rect is True:
            rect = mount_by_path[path]["object"]
        with scene_lock:
            scene_state["object"][path] = rect
            medias = list(scene_state["medias"].get(path, {}).values())
            for sm in medias:
                place_object(path, sm)
            now = time.time() * 1000.0
        log("mount %s: object %s (%d medias)" % (path, "in %r" % rect if rect else "hidden", len(medias)))
        emit({"event": "object", "mount": path, "on": rect is not None, "rect": rect, "medias": len(medias),
              "wall_ms": now})

    def set_brightness(name, level, ramp_ms):
        path = scene_mount(name, "brightness", {"level": level, "ramp_ms": ramp_ms})
        if path is None:
            return
        with scene_lock:
            now = time.time() * 1000.0
            ramps = scene_state["ramps"].setdefault(path, [])
            ramps.append({"from": light_level(path, now), "to": level, "t0": now, "dur": ramp_ms})
            # Frames in flight were captured up to a second ago: keep the ramps they may still fall in.
            while len(ramps) > 1 and ramps[1]["t0"] < now - RAMP_HISTORY_MS:
                ramps.pop(0)
            n = len(scene_state["medias"].get(path, {}))
        log("mount %s: brightness to %.3f over %d ms (%d medias)" % (path, level, ramp_ms, n))
        emit({"event": "brightness", "mount": path, "level": level, "ramp_ms": ramp_ms, "medias": n,
              "wall_ms": now})

    # --- jump: the RTP timestamps a live mount sends offset by a further amount from now on (its
    # media clock stepped: encoder restart, clock step) with the RTSP sessions left as they are. Only
    # the RTP header is rewritten, after the payloader: the pipeline's own timing and pacing stay.
    jump_offsets_ms = {}  # mount path -> cumulative offset, ms

    def set_jump(name, ms):
        path = "/" + name.strip("/")
        if path not in mount_by_path:
            log("jump: no mount %s" % path)
            emit({"event": "jump", "mount": path, "jump_ms": ms, "error": "no such mount",
                  "wall_ms": time.time() * 1000.0})
            return
        with freeze_lock:
            jump_offsets_ms[path] = jump_offsets_ms.get(path, 0) + ms
            offset = jump_offsets_ms[path]
            n = len(freeze_state["medias"].get(path, {}))
        log("mount %s: RTP timestamps jump by %d ms, now offset by %d ms (%d medias)" % (path, ms, offset, n))
        emit({"event": "jump", "mount": path, "jump_ms": ms, "offset_ms": offset, "medias": n,
              "wall_ms": time.time() * 1000.0})

    def attach_jump(pad, mount_path, what):
        """A probe on the payloader's src pad that adds the mount's jump offset to every packet's RTP
        timestamp (none while it is 0)."""
        st = {"failed": 0}

        def on_packets(_pad, info):
            offset = jump_offsets_ms.get(mount_path, 0)
            if offset:
                is_list = bool(info.type & Gst.PadProbeType.BUFFER_LIST)
                failed = shift_rtp_timestamps(info.data, is_list, offset * RTP_CLOCK_PER_MS)
                if failed:
                    st["failed"] += failed
                    if st["failed"] in (1, 100, 10000):
                        log("warning: %s: %d packet(s) sent without their jump (not writable)" % (what, st["failed"]))
            return Gst.PadProbeReturn.OK

        pad.add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, on_packets)

    # --- audio faults ("audio <mount> garbage|drop|ok"): a probe on every audio payloader's src pad
    # reads the mount's mode for each packet.
    audio_modes = {}  # mount path -> mode

    def set_audio(name, mode):
        path = "/" + name.strip("/")
        now = time.time() * 1000.0
        m = mount_by_path.get(path)
        if m is None or m["audio"] is None:
            err = "no such mount" if m is None else "mount has no audio"
            log("audio: %s: %s" % (path, err))
            emit({"event": "audio", "mount": path, "mode": mode, "error": err, "wall_ms": now})
            return
        with freeze_lock:
            audio_modes[path] = mode
            n = len(freeze_state["medias"].get(path, {}))
        log("mount %s: audio %s (%d medias)" % (path, mode, n))
        emit({"event": "audio", "mount": path, "mode": mode, "medias": n, "wall_ms": time.time() * 1000.0})

    def attach_audio_faults(pad, mount_path, what):
        st = {"failed": 0}

        def on_packets(_pad, info):
            mode = audio_modes.get(mount_path, "ok")
            if mode == "drop":
                return Gst.PadProbeReturn.DROP
            if mode == "garbage":
                is_list = bool(info.type & Gst.PadProbeType.BUFFER_LIST)
                failed = garble_rtp_payloads(info.data, is_list)
                if failed:
                    st["failed"] += failed
                    if st["failed"] in (1, 100, 10000):
                        log("warning: %s: %d audio packet(s) sent intact (not writable)" % (what, st["failed"]))
            return Gst.PadProbeReturn.OK

        pad.add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, on_packets)

    def on_media_configure(factory, media, mount_path):
        with counter_lock:
            media_counter["n"] += 1
            media_id = media_counter["n"]
        log("media %d configured for %s" % (media_id, mount_path))
        element = media.get_element()
        pay = element.get_by_name("pay0") if element is not None else None
        if pay is None:
            log("warning: no pay0 in media for %s" % mount_path)
            return
        m = mount_by_path.get(mount_path)
        if m is not None and m["code"]:
            what = "media %d (%s)" % (media_id, mount_path)
            attach_timecode(element, what, live_instant(element, what))
        attach_jump(pay.get_static_pad("src"), mount_path, "media %d (%s)" % (media_id, mount_path))
        audio_pay = element.get_by_name("pay1")
        if audio_pay is not None:
            attach_audio_faults(audio_pay.get_static_pad("src"), mount_path, "media %d (%s)" % (media_id, mount_path))
        fst = {"pad": pay.get_static_pad("src"), "probe": None, "prepared": False, "ended": False}
        with freeze_lock:
            freeze_state["medias"].setdefault(mount_path, {})[media_id] = fst

        def on_freeze_prepared(_media):
            with freeze_lock:
                fst["prepared"] = True
                apply_freeze(mount_path, fst)

        def on_freeze_unprepared(_media):
            with freeze_lock:
                fst["ended"] = True
                apply_freeze(mount_path, fst)
                freeze_state["medias"].get(mount_path, {}).pop(media_id, None)

        media.connect("prepared", on_freeze_prepared)
        media.connect("unprepared", on_freeze_unprepared)
        if m is not None and m["scene"] == "still":
            attach_scene(element, mount_path, media_id, "media %d (%s)" % (media_id, mount_path))
            media.connect("unprepared", lambda _media: detach_scene(mount_path, media_id))
        state = {"rtp": False, "key": False}

        def on_rtp(pad, info):
            if not state["rtp"]:
                state["rtp"] = True
                emit({"event": "first_rtp", "mount": mount_path, "media": media_id,
                      "wall_ms": time.time() * 1000.0})
            return Gst.PadProbeReturn.REMOVE

        def on_encoded(pad, info):
            buf = info.get_buffer()
            if buf is not None and not buf.has_flags(Gst.BufferFlags.DELTA_UNIT):
                if not state["key"]:
                    state["key"] = True
                    emit({"event": "first_keyframe", "mount": mount_path, "media": media_id,
                          "wall_ms": time.time() * 1000.0})
                return Gst.PadProbeReturn.REMOVE
            return Gst.PadProbeReturn.OK

        pay.get_static_pad("src").add_probe(
            Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, on_rtp)
        pay.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_encoded)

        def on_unprepared(_media):
            log("media %d for %s unprepared" % (media_id, mount_path))
            emit({"event": "media_unprepared", "mount": mount_path, "media": media_id,
                  "wall_ms": time.time() * 1000.0})

        media.connect("unprepared", on_unprepared)

    # --- auth: one RTSPAuth for the server; each credential gets its own role, each
    # factory grants access to the roles allowed on it (anonymous everywhere unprotected).
    cred_roles = {}  # (user, pass) -> role
    for m in mounts:
        if m["user"] is not None:
            key = (m["user"], m["pass"])
            if key not in cred_roles:
                cred_roles[key] = "cred%d" % len(cred_roles)
    all_roles = ["anonymous"] + list(cred_roles.values())

    if cred_roles:
        auth = GstRtspServer.RTSPAuth()
        anon = GstRtspServer.RTSPToken()
        anon.set_string("media.factory.role", "anonymous")
        auth.set_default_token(anon)
        for (user, pw), role in cred_roles.items():
            tok = GstRtspServer.RTSPToken()
            tok.set_string("media.factory.role", role)
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, pw), tok)
        server.set_auth(auth)

    def apply_roles(factory, m):
        if cred_roles:
            # Every role may *access* every factory; only allowed roles may *construct*.
            # gst-rtsp-server answers a failed access check with 404 but a failed construct
            # check with 401 + WWW-Authenticate, and clients (ffmpeg) only send credentials
            # after a 401 challenge.
            allowed = [cred_roles[(m["user"], m["pass"])]] if m["user"] is not None else all_roles
            for role in all_roles:
                st = Gst.Structure.new_from_string(
                    "%s, media.factory.access=(boolean)true, media.factory.construct=(boolean)%s"
                    % (role, "true" if role in allowed else "false"))
                factory.add_role_from_structure(st)

    # --- edge replay: a media factory per (mount, style) that builds a finite, non-shared
    # pipeline from the request's query. Validation happens at DESCRIBE (pre-describe-request),
    # so a span the edge does not hold is answered 404 like a camera with no recording.
    replay_lock = threading.Lock()
    replay_state = {"stalled": False, "n": 0, "pending": {}, "active": {}}
    replay_paths = {}  # "/cam1/Streaming/tracks/101" -> (mount dict, style, live path)

    def held_span_error(m, start_ms, end_ms):
        since = m["edge_since"] if m["edge_since"] is not None else started_ms
        now = time.time() * 1000.0
        if start_ms < since:
            return "span starts before the oldest footage held (%d < %d)" % (start_ms, since)
        if m["edge_until"] is not None and start_ms >= m["edge_until"]:
            return "span starts after the newest footage held (%d >= %d)" % (start_ms, m["edge_until"])
        if end_ms > now:
            return "span ends after now (%d > %d)" % (end_ms, now)
        return None

    def check_replay(path, query):
        """(mount dict, style, live path, start_ms, end_ms, None) or (..., reason)."""
        m, style, live_path = replay_paths[path]
        try:
            start_ms, end_ms = parse_replay_span(m, style, query)
        except ValueError as e:
            return m, style, live_path, None, None, str(e)
        return m, style, live_path, start_ms, end_ms, held_span_error(m, start_ms, end_ms)

    def apply_stall(st):
        # Called with replay_lock held.
        block_pad(st, replay_state["stalled"] and st["prepared"] and not st["ended"])

    def set_stall(on):
        with replay_lock:
            replay_state["stalled"] = on
            for st in replay_state["active"].values():
                apply_stall(st)
            n = len(replay_state["active"])
        log("replays %s (%d active)" % ("stalled" if on else "resumed", n))
        emit({"event": "stall_replays", "on": on, "active": n, "wall_ms": time.time() * 1000.0})

    class ReplayFactory(GstRtspServer.RTSPMediaFactory):
        def __init__(self, m, style, path):
            GstRtspServer.RTSPMediaFactory.__init__(self)
            self.m, self.style, self.path = m, style, path
            self.set_shared(False)

        def do_create_element(self, url):
            m, _style, live_path, start_ms, end_ms, err = check_replay(self.path, url.query)
            if err is not None:  # normally refused at DESCRIBE already
                emit({"event": "replay_refused", "mount": live_path, "style": self.style,
                      "reason": err, "wall_ms": time.time() * 1000.0})
                return None
            held_end_ms = end_ms if m["edge_until"] is None else min(end_ms, m["edge_until"])
            frames = max(1, int(round((held_end_ms - start_ms) / 1000.0 * m["fps"])))
            overlay = ""
            if m["clock"] and have_timeoverlay:
                label = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(start_ms / 1000.0))
                overlay = ('timeoverlay text="%s replay %s +" halignment=left valignment=top '
                           'shaded-background=true font-desc="Sans 14" ! ' % (m["name"], label))
            launch = ("( videotestsrc is-live=true num-buffers=%d pattern=%s "
                      "! video/x-raw,width=%d,height=%d,framerate=%d/1 "
                      "! %s%svideoconvert "
                      "! %s "
                      "! %s name=pay0 pt=96 config-interval=1 )"
                      % (frames, m["pattern"], m["width"], m["height"], m["fps"], overlay,
                         timecode_launch(m), encoder_launch(dict(m, gop=m["fps"])),
                         "rtph265pay" if m["codec"] == "h265" else "rtph264pay"))
            try:
                element = Gst.parse_launch(launch)
            except GLib.Error as e:
                log("replay pipeline error: %s" % e.message)
                return None
            with replay_lock:
                replay_state["n"] += 1
                rid = "replay%d" % replay_state["n"]
                replay_state["pending"][rid] = {
                    "mount": live_path, "style": self.style, "start_ms": start_ms,
                    "end_ms": end_ms, "frames": frames, "m": m}
            element.set_name(rid)
            return element

    def on_replay_configure(_factory, media):
        element = media.get_element()
        rid = element.get_name() if element is not None else None
        with replay_lock:
            info = replay_state["pending"].pop(rid, None)
        pay = element.get_by_name("pay0") if element is not None else None
        if info is None or pay is None:
            log("warning: replay media without request info (%s)" % rid)
            return
        base = {"mount": info["mount"], "style": info["style"], "start_ms": info["start_ms"],
                "end_ms": info["end_ms"]}
        if info["m"]["code"]:
            attach_timecode(element, "replay %s (%s)" % (rid, info["mount"]),
                            replay_instant(info["start_ms"], info["m"]["fps"]))
        st = {"pad": pay.get_static_pad("src"), "probe": None, "prepared": False,
              "ended": False, "sent": 0}
        with replay_lock:
            replay_state["active"][rid] = st
        log("replay %s: %s %s [%d, %d] %d frames" % (rid, info["mount"], info["style"],
                                                     info["start_ms"], info["end_ms"], info["frames"]))
        emit(dict(base, event="replay", frames=info["frames"], wall_ms=time.time() * 1000.0))

        def on_sink(_pad, pinfo):
            if pinfo.type & Gst.PadProbeType.BUFFER:
                st["sent"] += 1
            return Gst.PadProbeReturn.OK

        def on_src_event(_pad, pinfo):
            ev = pinfo.get_event()
            if ev is not None and ev.type == Gst.EventType.EOS:
                with replay_lock:
                    first = not st["ended"]
                    st["ended"] = True
                if first:
                    emit(dict(base, event="replay_end", frames=st["sent"],
                              wall_ms=time.time() * 1000.0))
            return Gst.PadProbeReturn.OK

        pay.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_sink)
        st["pad"].add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, on_src_event)

        def on_prepared(_media):
            with replay_lock:
                st["prepared"] = True
                apply_stall(st)

        def on_unprepared(_media):
            with replay_lock:
                replay_state["active"].pop(rid, None)
                ended = st["ended"]
            if not ended:  # the client went away (or timed out) before the end of the span
                emit(dict(base, event="replay_aborted", frames=st["sent"],
                          wall_ms=time.time() * 1000.0))

        media.connect("prepared", on_prepared)
        media.connect("unprepared", on_unprepared)

    mount_points = server.get_mount_points()
    mount_paths = []
    for m in mounts:
        path = "/" + m["name"]
        if m["sprop"]:
            factory = GstRtspServer.RTSPMediaFactory()
            factory.set_launch(add_audio(m, make_launch(m)))
            if not m["seek"]:
                # As SpropFreeFactory: not seekable, so a PLAY joins the running shared stream.
                factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)
        else:
            factory = SpropFreeFactory(m)
        factory.set_shared(m["shared"])
        factory.connect("media-configure", on_media_configure, path)
        apply_roles(factory, m)
        mount_points.add_factory(path, factory)
        if m["edge"]:
            for style, suffix in REPLAY_STYLES:
                rpath = path + "/" + suffix
                if rpath in replay_paths or any(rpath == "/" + o["name"] for o in mounts):
                    die(EXIT_USAGE, "replay path %s collides with another mount" % rpath)
                rfactory = ReplayFactory(m, style, rpath)
                rfactory.connect("media-configure", on_replay_configure)
                apply_roles(rfactory, m)
                mount_points.add_factory(rpath, rfactory)
                replay_paths[rpath] = (m, style, path)
            log("mount %s: edge replay since %s until %s, tz %s" % (
                path, "%d" % m["edge_since"] if m["edge_since"] is not None else "start",
                "%d" % m["edge_until"] if m["edge_until"] is not None else "now", m["edge_tz"]))
        mount_paths.append(path)
        log("mount %s: %dx%d@%d %dkbps gop=%d %s shared=%d clock=%d sprop=%d seek=%d auth=%s" % (
            path, m["width"], m["height"], m["fps"], m["bitrate"], m["gop"],
            "scene=still" if m["scene"] == "still" else "pattern=%s" % m["pattern"],
            int(m["shared"]), int(m["clock"] and have_clock), int(m["sprop"]), int(m["seek"] and m["sprop"]),
            "yes" if m["user"] is not None else "no"))

    def match_mount(path):
        if not path:
            return None
        path = path.rstrip("/")
        best = None
        for mp in mount_paths:
            if path == mp or path.startswith(mp + "/"):
                if best is None or len(mp) > len(best):
                    best = mp
        return best or path

    def on_client_connected(_server, client):
        conn = client.get_connection()
        ip = conn.get_ip() if conn is not None else "?"
        log("client connected from %s" % ip)

        def on_closed(_client):
            log("client %s closed" % ip)
        client.connect("closed", on_closed)

        def on_play(_client, ctx):
            now = time.time() * 1000.0
            path = None
            try:
                path = ctx.uri.abspath if ctx.uri is not None else None
            except Exception:
                path = None
            mount = match_mount(path)
            log("PLAY %s from %s" % (path, ip))
            ev = {"event": "play", "mount": mount, "wall_ms": now}
            if path in replay_paths:
                ev["replay"] = True
            emit(ev)
        client.connect("play-request", on_play)

        def on_pre_describe(_client, ctx):
            try:
                path, query = ctx.uri.abspath, ctx.uri.query
            except Exception:
                return GstRtsp.RTSPStatusCode.OK
            if path not in replay_paths:
                return GstRtsp.RTSPStatusCode.OK
            _m, style, live_path, start_ms, end_ms, err = check_replay(path, query)
            if err is None:
                return GstRtsp.RTSPStatusCode.OK
            log("replay refused (404) for %s?%s: %s" % (path, query, err))
            ev = {"event": "replay_refused", "mount": live_path, "style": style, "reason": err,
                  "wall_ms": time.time() * 1000.0}
            if start_ms is not None:
                ev["start_ms"], ev["end_ms"] = start_ms, end_ms
            emit(ev)
            return GstRtsp.RTSPStatusCode.NOT_FOUND
        client.connect("pre-describe-request", on_pre_describe)

    server.connect("client-connected", on_client_connected)

    try:
        source = server.create_source(None)
    except GLib.Error as e:
        die(EXIT_BIND, "cannot listen on %s:%d: %s" % (args.address, args.port, e.message))
    source.attach(None)
    port = server.get_bound_port()
    if port <= 0:
        die(EXIT_BIND, "cannot determine bound port on %s" % args.address)

    def on_signal(signame):
        loop.quit()
        log("%s received, exiting" % signame)
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, on_signal, "SIGTERM")
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, on_signal, "SIGINT")

    # stdin: command lines ("stall-replays 1" / "stall-replays 0"); EOF exits with
    # --exit-on-stdin-eof (the parent died), otherwise just stops reading.
    stdin_buf = {"data": b""}

    def on_command(line):
        words = line.split()
        if not words:
            return
        if words[0] == "stall-replays" and len(words) == 2 and words[1] in ("0", "1"):
            set_stall(words[1] == "1")
        elif words[0] == "freeze" and len(words) == 3 and words[2] in ("0", "1"):
            set_freeze(words[1], words[2] == "1")
        elif words[0] == "object" and len(words) == 3 and words[2] in ("0", "1"):
            set_object(words[1], True if words[2] == "1" else None)
        elif words[0] == "object" and len(words) == 3 and re.match(r"^[0-9.:]+$", words[2]):
            try:
                rect = parse_rect(words[2])
            except ValueError as e:
                log("object: %s" % e)
                emit({"event": "object", "mount": "/" + words[1].strip("/"), "on": True, "error": str(e),
                      "wall_ms": time.time() * 1000.0})
                return
            set_object(words[1], rect)
        elif (words[0] == "brightness" and len(words) == 4 and re.match(r"^-?[0-9]*\.?[0-9]+$", words[2])
              and -1 <= float(words[2]) <= 1 and re.match(r"^[0-9]{1,9}$", words[3])):
            set_brightness(words[1], float(words[2]), int(words[3]))
        elif words[0] == "audio" and len(words) == 3 and words[2] in AUDIO_MODES:
            set_audio(words[1], words[2])
        elif words[0] == "jump" and len(words) == 3 and re.match(r"^-?[0-9]{1,9}$", words[2]):
            set_jump(words[1], int(words[2]))
        else:
            log("unknown stdin command %r" % line)

    def on_stdin(fd, cond):
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if data:
            stdin_buf["data"] += data
            while b"\n" in stdin_buf["data"]:
                line, stdin_buf["data"] = stdin_buf["data"].split(b"\n", 1)
                on_command(line.decode("utf-8", "replace").strip())
            return GLib.SOURCE_CONTINUE
        if args.exit_on_stdin_eof:
            loop.quit()
            log("stdin closed, exiting")
        return GLib.SOURCE_REMOVE

    try:
        stdin_fd = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):
        stdin_fd = None
    if stdin_fd is not None:
        GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, stdin_fd,
                              GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
                              on_stdin)

    log("listening on rtsp://%s:%d (pid %d)" % (args.address, port, os.getpid()))
    emit({"event": "ready", "port": port, "address": args.address, "pid": os.getpid(),
          "mounts": mount_paths})

    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    # Streaming threads may still be running inside GStreamer; don't let interpreter
    # finalization race with them.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
