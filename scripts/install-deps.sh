#!/usr/bin/env bash
# Installs the system packages Vigil needs on Debian/Ubuntu: ffmpeg (recording) and GStreamer's RTSP
# server (the built-in demo cameras). With --test, also what the test suite needs: Chromium (the web
# page's browser tests), openssl (a test makes a TLS certificate), mosquitto (the MQTT tests' broker,
# started by the tests on their own ports), prometheus (its promtool checks the shipped alert rules;
# Debian's mosquitto and prometheus packages also enable services of their own where systemd runs:
# `sudo systemctl disable --now mosquitto prometheus` if you do not want them), iproute2 (the ONVIF discovery tests' network namespace) and
# systemd (its systemd-analyze verifies the shipped unit; nothing is started), and postgresql-15 (the
# catalog suites' second engine: the tests run initdb and pg_ctl from /usr/lib/postgresql/15/bin, as
# the `postgres` user the package creates, on a free loopback port; Debian also starts a cluster of its
# own on 5432, which the tests never use: `sudo systemctl disable --now postgresql` if you do not want it).
# Safe to run again: it installs only what is missing.
set -euo pipefail
packages=(
  ffmpeg
  python3 python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-x
)
case "${1:-}" in
  --test) packages+=(chromium openssl mosquitto prometheus iproute2 systemd postgresql-15) ;;
  "") ;;
  *) echo "usage: scripts/install-deps.sh [--test]" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all system packages present"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-deps: not a Debian/Ubuntu system; install these by hand: ${missing[*]}" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root, or install sudo, to apt-get install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
