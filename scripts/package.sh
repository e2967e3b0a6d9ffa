#!/usr/bin/env bash
# Builds the Linux packages from the release profile (size-optimised, LTO, one codegen unit,
# stripped): one binary, `msgops-console`, that is the window and, started as
# `msgops-console cli` (the packages' /usr/bin/msgops), the headless `msgops`; and the systemd
# unit of `msgops serve`. Prints the binary's and packages' sizes.
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
ui/node_modules/.bin/tauri build --ci --bundles "$bundles"

mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
# tauri build writes the .deb's files with gzip (the .rpm's are xz: tauri.conf.json); dpkg-deb
# packs the same tree again with xz, as Debian's own packages are: a third smaller.
for deb in target/release/bundle/deb/*.deb; do
  [ -f "$deb" ] || continue
  printf 'the .deb as tauri build wrote it (gzip): %s\n' "$(mib "$deb")"
  tree=$(mktemp -d)
  dpkg-deb -R "$deb" "$tree/root"
  dpkg-deb --root-owner-group -Zxz -z9 -Sextreme -b "$tree/root" "$deb" > /dev/null
  rm -rf "$tree"
done

echo
echo "sizes (release profile):"
for f in target/release/msgops-console target/release/bundle/deb/*.deb \
  target/release/bundle/rpm/*.rpm target/release/bundle/appimage/*.AppImage; do
  if [ -f "$f" ]; then printf '  %-60s %s\n' "$f" "$(mib "$f")"; fi
done
