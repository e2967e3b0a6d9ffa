#!/usr/bin/env bash
# Installs what is missing, builds the UI and starts the msgops desktop console.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
cd "$root"
exec ui/node_modules/.bin/tauri dev
