#!/usr/bin/env bash
# The packages as a user gets them: the .deb installed with `apt install ./….deb` (its
# dependencies resolved by apt), holding the window, the headless CLI and the systemd unit; the
# installed window opened under Xvfb (it maps a window titled msgops); the .rpm listed by rpm
# itself with the same files. /usr/bin/msgops runs the window's binary as the headless tool (one
# copy of the code): the installed `msgops serve` answers its health check on loopback.
#
#   bash tests/package/install.sh                                   # after scripts/package.sh
#   MSGOPS_BUNDLE_DIR=target/debug/bundle bash tests/package/install.sh   # tauri build --debug
#
# Uninstalls the .deb at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
bundles=${MSGOPS_BUNDLE_DIR:-target/release/bundle}
deb=$(ls "$bundles"/deb/*.deb | head -1)
rpm=$(ls "$bundles"/rpm/*.rpm 2>/dev/null | head -1 || true)
fail() { echo "package test: $*" >&2; exit 1; }

sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./$deb" > /tmp/msgops-apt.log 2>&1 ||
  { cat /tmp/msgops-apt.log >&2; fail "apt could not install $deb"; }
trap 'sudo_ env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q msgops > /dev/null 2>&1 || true' EXIT
for f in /usr/bin/msgops-console /usr/bin/msgops /usr/lib/systemd/system/msgops-serve.service; do
  [ -e "$f" ] || fail "$f is not installed by $deb"
done
/usr/bin/msgops --version | grep -q "msgops" || fail "the installed msgops does not run"
/usr/bin/msgops config check /dev/null > /dev/null || fail "the installed msgops cannot check a configuration"
systemd-analyze verify /usr/lib/systemd/system/msgops-serve.service || fail "the installed unit does not verify"
# The unit's command, as systemd would start it (emulated providers, a free loopback port).
serve_dir=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MSGOPS_DATA_DIR=$serve_dir /usr/bin/msgops serve --emulated --listen "127.0.0.1:$port" > "$serve_dir/serve.log" 2>&1 &
serve=$!
healthy=
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/api/v1/health/messaging" > "$serve_dir/health.json" 2>/dev/null; then healthy=1; break; fi
  sleep 0.1
done
kill "$serve" 2>/dev/null || true
wait "$serve" 2>/dev/null || true
[ -n "$healthy" ] || { cat "$serve_dir/serve.log" >&2; fail "the installed msgops serve did not answer its health check"; }
grep -q '"AWSSESProvider"' "$serve_dir/health.json" || fail "the installed msgops serve's health has no SES provider: $(cat "$serve_dir/health.json")"
rm -rf "$serve_dir"
echo "the installed msgops serve answered its health check on 127.0.0.1:$port"
echo "installed: $(dpkg-query -W -f='${Package} ${Version}, ${Installed-Size} KiB installed' msgops)"

# The installed window opens: Xvfb, a private D-Bus session, a throwaway HOME.
work=$(mktemp -d)
mkdir -p "$work"/{home,config,data,cache,runtime}
chmod 700 "$work/runtime"
display=:$((90 + RANDOM % 50))
Xvfb "$display" -screen 0 1280x900x24 -nolisten tcp > "$work/xvfb.log" 2>&1 &
xvfb=$!
cleanup_x() { kill "$xvfb" 2>/dev/null || true; rm -rf "$work"; }
trap 'cleanup_x; sudo_ env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q msgops > /dev/null 2>&1 || true' EXIT
sleep 1
export DISPLAY=$display HOME=$work/home XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data \
  XDG_CACHE_HOME=$work/cache XDG_RUNTIME_DIR=$work/runtime MSGOPS_DATA_DIR=$work/data/msgops
started=$(date +%s%N)
dbus-run-session -- bash -c '
  /usr/bin/msgops-console > "$1/app.log" 2>&1 &
  app=$!
  if ! timeout 30 xdotool search --sync --onlyvisible --name "^msgops" > /dev/null; then
    echo "no window mapped within 30 s:"; cat "$1/app.log"; kill $app 2>/dev/null; exit 1
  fi
  kill -0 $app || { echo "the installed window exited:"; cat "$1/app.log"; exit 1; }
  kill $app; wait $app 2>/dev/null || true
' _ "$work" || fail "the installed msgops-console did not open its window"
echo "the installed window mapped after $(( ($(date +%s%N) - started) / 1000000 )) ms"

if [ -n "$rpm" ]; then
  command -v rpm > /dev/null || sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends rpm > /dev/null
  listed=$(rpm -qlvp "$rpm" 2>/dev/null)
  for f in /usr/bin/msgops-console /usr/bin/msgops /usr/lib/systemd/system/msgops-serve.service; do
    grep -q " $f\$" <<<"$listed" || fail "$rpm does not hold $f"
  done
  for f in /usr/bin/msgops-console /usr/bin/msgops; do
    grep " $f\$" <<<"$listed" | grep -q '^-rwxr-xr-x' || fail "$rpm installs $f without its execute bits: $(grep " $f\$" <<<"$listed")"
  done
  echo "rpm: $(rpm -qp --qf '%{NAME} %{VERSION}-%{RELEASE} %{ARCH}' "$rpm" 2>/dev/null) holds the window, the CLI and the unit"
fi
echo "package test: ok"
