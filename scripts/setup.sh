#!/usr/bin/env bash
# Installs whatever is missing on a fresh Debian 12 / Ubuntu machine to build, run and test
# msgops: system libraries (WebKitGTK, GTK, D-Bus, gnome-keyring, Xvfb, WebKitWebDriver, dunst,
# Chromium for the browser tests, redis-server and PostgreSQL for the shared-state and history
# tests), npm packages for the UI, the browser tests and the end-to-end
# tests, the Python test peers in .venv, and tauri-driver.
# Safe to run again: every step checks before it installs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '\n== %s\n' "$*"; }

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_packages=(libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev
  libsoup-3.0-dev webkit2gtk-driver xvfb xauth dbus-x11 gnome-keyring libsecret-tools libglib2.0-bin libdbus-1-dev
  pkg-config build-essential curl openssl python3-venv time imagemagick xclip chromium dunst xdotool logrotate
  redis-server postgresql systemd)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt: installing ${missing[*]}"
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get update -q
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs) first" >&2; exit 1; }
command -v node >/dev/null || { echo "node not found: install Node.js 20+ first" >&2; exit 1; }

say "npm: ui/, tests/browser/ (playwright-core), tests/e2e/, tests/peers/ (Prism)"
for dir in ui tests/browser tests/e2e tests/peers; do
  [ -f "$dir/package.json" ] || continue
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    # `npm install --no-save` rather than `npm ci`: npm 11 leaves other platforms' optional
    # packages (@tauri-apps/cli-darwin-*) out of the lock file and `npm ci` then refuses it.
    (cd "$dir" && npm install --no-save --no-fund --no-audit --loglevel=error)
  fi
done

if [ -f tests/peers/requirements.txt ]; then
  say "python test peers (.venv)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r tests/peers/requirements.txt
fi

if ! command -v tauri-driver >/dev/null; then
  say "tauri-driver (cargo install, about 2 minutes)"
  cargo install tauri-driver --locked --version '^2'
fi
