#!/usr/bin/env bash
# Runs the end-to-end tests against the real msgops-console window: a private D-Bus session,
# Xvfb, tauri-driver + WebKitWebDriver, and a throwaway HOME/XDG tree so nothing leaks into or
# out of the machine's own desktop session. Expects the app built (scripts/test.sh does it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
app=${MSGOPS_E2E_APP:-$root/target/debug/msgops-console}
[ -x "$app" ] || { echo "e2e: $app is not built" >&2; exit 1; }

work=$(mktemp -d /tmp/msgops-e2e.XXXXXX)
peers=()
cleanup() {
  kill "${peers[@]}" 2>/dev/null || true
  # GTK may have started xdg-document-portal, which mounts $XDG_RUNTIME_DIR/doc.
  fusermount3 -u "$work/runtime/doc" 2>/dev/null || fusermount -u "$work/runtime/doc" 2>/dev/null ||
    umount -l "$work/runtime/doc" 2>/dev/null || true
  rm -rf "$work" 2>/dev/null || { sleep 2 && rm -rf "$work" 2>/dev/null; } ||
    echo "e2e: could not remove $work entirely" >&2
}
trap cleanup EXIT
artifacts=${MSGOPS_E2E_ARTIFACTS:-$root/test-artifacts/e2e}
mkdir -p "$artifacts"

# The real peers behind the window: moto for SNS, Prism serving Twilio's own OpenAPI
# description. Both on loopback; the tests stop moto to watch the chain fail over.
specs=${MSGOPS_SPECS_DIR:-$root/../shared/specs}
moto_port=$((5600 + RANDOM % 300))
prism_port=$((6000 + RANDOM % 300))
"$root/.venv/bin/python" "$root/tests/peers/moto_server.py" -H 127.0.0.1 -p "$moto_port" >"$artifacts.moto.log" 2>&1 &
moto_pid=$!
peers+=("$moto_pid")
"$root/tests/peers/node_modules/.bin/prism" mock -h 127.0.0.1 -p "$prism_port" "$specs/twilio_api_v2010.json" >"$artifacts.prism.log" 2>&1 &
peers+=("$!")
# The window's Twilio: Prism behind a proxy that notes which auth token each request carried.
twilio_port=$((6400 + RANDOM % 300))
node "$root/tests/e2e/twilio-keys.mjs" "$twilio_port" "http://127.0.0.1:$prism_port" >"$artifacts.twilio-keys.log" 2>&1 &
peers+=("$!")
mkdir -p "$work"/{home,config,data,cache,runtime,logs}
chmod 700 "$work/runtime"
: > "$work/logs/backend.log"
: > "$work/logs/otp.log"
service_port=$((5100 + RANDOM % 800))
cat > "$work/config/config.toml" <<TOML
[service]
enabled = true
listen = "127.0.0.1:$service_port"
public_url = "https://ops.example.test"

[logs]
follow = ["$work/logs/backend.log", "$work/logs/otp.log"]
poll_interval_ms = 100

# Nothing may reach a real provider: SNS is moto, Twilio is Prism, and the email providers
# point at a closed loopback port.
[sns]
endpoint_url = "http://127.0.0.1:$moto_port"
[ses]
endpoint_url = "http://127.0.0.1:9"
[twilio]
base_url = "http://127.0.0.1:$twilio_port"
from_number = "+14165550100"
[sendgrid]
base_url = "http://127.0.0.1:9"

# No [console] log_path: the Console provider writes to <data dir>/console-sms.log, which the
# window follows with no configuration.
[console.policy]
failure_threshold = 1
open_secs = 600
TOML

export HOME="$work/home" XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" \
  XDG_CACHE_HOME="$work/cache" XDG_RUNTIME_DIR="$work/runtime" \
  MSGOPS_CONFIG="$work/config/config.toml" MSGOPS_DATA_DIR="$work/data/msgops" \
  MSGOPS_E2E_APP="$app" MSGOPS_E2E_SERVICE="http://127.0.0.1:$service_port" MSGOPS_E2E_BACKEND_LOG="$work/logs/backend.log" MSGOPS_E2E_CONSOLE_LOG="$work/data/msgops/console-sms.log" MSGOPS_E2E_OTP_LOG="$work/logs/otp.log" \
  MSGOPS_E2E_ARTIFACTS="$artifacts" MSGOPS_E2E_DUNST_PICK="$work/dunst-pick" \
  MSGOPS_E2E_MOTO="http://127.0.0.1:$moto_port" MSGOPS_E2E_MOTO_PID="$moto_pid" \
  MSGOPS_E2E_PRISM="http://127.0.0.1:$prism_port" MSGOPS_E2E_TWILIO="http://127.0.0.1:$twilio_port" \
  WEBKIT_DISABLE_COMPOSITING_MODE=1 LIBGL_ALWAYS_SOFTWARE=1 AWS_EC2_METADATA_DISABLED=true

# dunst's context menu ("Copy code" on a notification) is a script the tests steer.
cat > "$work/dunstrc" <<INI
[global]
    dmenu = $root/tests/e2e/dunst-menu.sh
INI

# Prism reads a large description: wait for both peers before the window starts.
for _ in $(seq 300); do
  (exec 3<>/dev/tcp/127.0.0.1/$moto_port) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/$prism_port) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/$twilio_port) 2>/dev/null && break
  sleep 0.2
done
dbus-run-session -- bash -c '
  set -euo pipefail
  # A real Secret Service for the credentials tests, unlocked, private to this session.
  echo -n e2e-keyring-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  display=:$((90 + RANDOM % 100))
  Xvfb "$display" -screen 0 1280x820x24 -nolisten tcp >"$MSGOPS_E2E_ARTIFACTS.xvfb.log" 2>&1 &
  xvfb=$!
  port=$((4500 + RANDOM % 400))
  export DISPLAY=$display TAURI_DRIVER_PORT=$port MSGOPS_E2E_NOTIFICATIONS="$MSGOPS_E2E_ARTIFACTS.notifications.log"
  sleep 1
  # A real notification server (dunst) on this session bus, and a record of what it was asked.
  dunst -config "'"$work"'/dunstrc" >"$MSGOPS_E2E_ARTIFACTS.dunst.log" 2>&1 &
  dunst=$!
  dbus-monitor "interface=org.freedesktop.Notifications" >"$MSGOPS_E2E_NOTIFICATIONS" 2>&1 &
  monitor=$!
  tauri-driver --port "$port" >"$MSGOPS_E2E_ARTIFACTS.driver.log" 2>&1 &
  driver=$!
  trap "kill $driver $monitor $dunst $xvfb 2>/dev/null || true" EXIT
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
  cd "'"$root"'/tests/e2e"
  # MSGOPS_E2E_ONLY="6-*.e2e.mjs" runs some files only (while working on them).
  if [ -n "${MSGOPS_E2E_ONLY:-}" ]; then node --test --test-concurrency=1 $MSGOPS_E2E_ONLY; else npm test; fi
'
