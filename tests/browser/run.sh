#!/usr/bin/env bash
# Runs the browser tests: the built UI (ui/dist) in Debian's Chromium, driven by
# playwright-core, with the Tauri IPC answered by the fake backend in mock/. Builds the UI
# first when ui/dist is missing or MSGOPS_BROWSER_BUILD=1. Screenshots go to
# test-artifacts/browser/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${MSGOPS_BROWSER_BUILD:-0}" = 1 ] || [ ! -f "$root/ui/dist/index.html" ]; then
  npm --prefix "$root/ui" run build --silent
fi
chromium=${MSGOPS_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "browser tests: $chromium is missing (apt-get install chromium, or scripts/setup.sh)" >&2; exit 1; }
cd "$root/tests/browser"
[ -d node_modules ] || npm install --no-save --no-fund --no-audit --loglevel=error
npm test
