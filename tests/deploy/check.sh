#!/usr/bin/env bash
# The deployment files, checked by the tools that will read them: systemd's own verifier and
# security review of the msgops-serve unit (exposure at most 1.5, "OK"), and the compose folder
# read as Compose reads it, with its configuration rendered as its entrypoint does and checked
# by msgops itself (`msgops config check`).
#
#   tests/deploy/check.sh            # uses target/debug/msgops (built by cargo test)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
msgops=$(realpath -m "${MSGOPS_BIN:-$root/target/debug/msgops}")
[ -x "$msgops" ] || cargo build --quiet -p msgops-cli --bin msgops
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

unit=deploy/systemd/msgops-serve.service
# verify checks that ExecStart's binary exists: point it at the one just built.
sed "s|/usr/bin/msgops|$msgops|" "$unit" > "$work/msgops-serve.service"
systemd-analyze verify "$work/msgops-serve.service"
systemd-analyze security --offline=yes --threshold=15 "$work/msgops-serve.service" > "$work/security.txt" || {
  cat "$work/security.txt" >&2
  echo "check.sh: $unit is exposed beyond 1.5 (systemd-analyze security)" >&2
  exit 1
}
grep -o "Overall exposure level.*" "$work/security.txt"

.venv/bin/python tests/deploy/check_compose.py deploy/compose "$msgops"
