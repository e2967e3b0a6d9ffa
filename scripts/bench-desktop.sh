#!/usr/bin/env bash
# Figures of the desktop app for the README: binary and package sizes, cold start to the first
# dashboard paint, idle CPU, and proportional memory (PSS) of all its processes at rest and
# after a soak — each against the smallest WebKitGTK window showing the same built UI, in the
# same run. A benchmark: it prints figures and asserts nothing.
#
#   scripts/bench-desktop.sh                       # the release build (scripts/package.sh)
#   MSGOPS_APP=target/debug/msgops-console IDLE_SECS=20 SOAK_SECS=30 scripts/bench-desktop.sh
#   SOAK_SECS=3600 scripts/bench-desktop.sh        # the hour-long soak, 100,000 codes
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
app=$(realpath -m "${MSGOPS_APP:-target/release/msgops-console}")
[ -x "$app" ] || { echo "bench: $app is not built (scripts/package.sh)" >&2; exit 1; }
[ -f ui/dist/index.html ] || npm --prefix ui run build --silent
/usr/bin/python3 -c 'import gi; gi.require_version("WebKit2", "4.1")' 2>/dev/null || {
  echo "bench: the reference needs python3-gi and gir1.2-webkit2-4.1 (apt-get install python3-gi gir1.2-webkit2-4.1)" >&2
  exit 1
}

mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "sizes:"
for f in "$app" target/release/bundle/deb/*.deb target/release/bundle/rpm/*.rpm \
  target/release/bundle/appimage/*.AppImage; do
  if [ -f "$f" ]; then printf '  %-60s %s\n' "${f#"$root"/}" "$(mib "$f")"; fi
done

work=$(mktemp -d /tmp/msgops-bench.XXXXXX)
trap 'kill "${xvfb:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work"/{home,config,data,cache,runtime}
chmod 700 "$work/runtime"
display=:$((150 + RANDOM % 50))
Xvfb "$display" -screen 0 1920x1080x24 -nolisten tcp > "$work/xvfb.log" 2>&1 &
xvfb=$!
sleep 1
DISPLAY=$display HOME=$work/home XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data \
  XDG_CACHE_HOME=$work/cache XDG_RUNTIME_DIR=$work/runtime MSGOPS_APP=$app BENCH_WORK=$work \
  dbus-run-session -- /usr/bin/python3 scripts/bench/desktop.py
