#!/usr/bin/env bash
# Install the Debian packages the project needs when they are missing.
# Usage: tools/ensure-system-packages.sh [--test | --bench | --image]
#   --test adds the browsers, node, nginx and GStreamer for the test suite; --bench adds
#   nginx and wrk; --image adds podman and mmdebstrap, which build the production image.
set -euo pipefail

packages=()
have_pg_server() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
have_pg_server || packages+=(postgresql)
if [ "${1:-}" = "--test" ]; then
  [ -x /usr/bin/chromium ] || packages+=(chromium)
  # Firefox plays H.264 through the system's libavcodec, only a Recommends of
  # firefox-esr (and this script installs without recommends).
  [ -x /usr/bin/firefox-esr ] || packages+=(firefox-esr)
  ldconfig -p | grep -q 'libavcodec\.so\.' || packages+=(libavcodec59)
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
  # tests/edge puts nginx caches (edge and Origin Shield stand-ins) in front of the origin.
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || packages+=(nginx)
  # GStreamer makes part of the source corpus (tests/corpus): its muxers and
  # x264enc (-ugly), openh264enc and voaacenc (-bad).
  command -v gst-launch-1.0 >/dev/null 2>&1 || packages+=(gstreamer1.0-tools)
  for plugins in good ugly bad; do
    dpkg -s "gstreamer1.0-plugins-$plugins" >/dev/null 2>&1 || packages+=("gstreamer1.0-plugins-$plugins")
  done
fi
if [ "${1:-}" = "--image" ]; then
  command -v podman >/dev/null 2>&1 || packages+=(podman)
  command -v mmdebstrap >/dev/null 2>&1 || packages+=(mmdebstrap)
fi
if [ "${1:-}" = "--bench" ]; then
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || packages+=(nginx-light)
  command -v wrk >/dev/null 2>&1 || packages+=(wrk)
fi
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "error: missing Debian packages (${packages[*]}) and no root or sudo to install them" >&2
  exit 1
fi
echo "installing Debian packages: ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Debian starts a system cluster on install; this project runs private clusters only.
if [[ " ${packages[*]} " == *" postgresql "* ]] && command -v pg_ctlcluster >/dev/null 2>&1; then
  "${sudo[@]}" sh -c 'for v in /etc/postgresql/*/main; do [ -d "$v" ] && pg_ctlcluster "$(basename "$(dirname "$v")")" main stop || true; done'
fi
