#!/usr/bin/env bash
# Builds the Linux packages from the release profile (size-optimised, LTO, one codegen unit,
# stripped): the window `msgops-console`, the headless `msgops`, and the systemd unit of
# `msgops serve`. Prints the binaries' and packages' sizes.
#
#   scripts/package.sh                      # .deb and .rpm
#   MSGOPS_BUNDLES=deb,rpm,appimage scripts/package.sh
#
# The AppImage needs linuxdeploy, which Tauri fetches from GitHub: the GitHub workflow builds
# it; on a machine that cannot reach GitHub, leave it out.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bundles=${MSGOPS_BUNDLES:-deb,rpm}
npm --prefix ui run build --silent
# The CLI first: the packages carry it (tauri.conf.json, bundle.linux.*.files).
cargo build --release --locked -p msgops-cli --bin msgops
ui/node_modules/.bin/tauri build --ci --bundles "$bundles"

mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo
echo "sizes (release profile):"
for f in target/release/msgops-console target/release/msgops target/release/bundle/deb/*.deb \
  target/release/bundle/rpm/*.rpm target/release/bundle/appimage/*.AppImage; do
  if [ -f "$f" ]; then printf '  %-60s %s\n' "$f" "$(mib "$f")"; fi
done
