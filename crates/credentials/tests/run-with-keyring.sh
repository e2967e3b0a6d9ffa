#!/bin/sh
# Runs a command inside a private D-Bus session with a fresh, unlocked gnome-keyring whose
# HOME and XDG directories live in a temp dir (removed afterwards). The command sees
# MSGOPS_SECRET_SERVICE=1 and MSGOPS_KEYRING_SANDBOX=<temp dir>.
#
#   crates/credentials/tests/run-with-keyring.sh cargo test -p msgops-credentials --test keychain
#
# Needs: dbus-run-session (dbus), gnome-keyring-daemon (gnome-keyring).
set -eu
if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi
for tool in dbus-run-session gnome-keyring-daemon; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "$0: $tool not found (apt-get install dbus gnome-keyring)" >&2
        exit 3
    }
done
sandbox=$(mktemp -d "${TMPDIR:-/tmp}/msgops-keyring.XXXXXX")
trap 'rm -rf "$sandbox"' EXIT INT TERM
# Keep cargo and rustup where they are before moving HOME.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export HOME="$sandbox/home"
export XDG_DATA_HOME="$sandbox/data"
export XDG_CONFIG_HOME="$sandbox/config"
export XDG_CACHE_HOME="$sandbox/cache"
export XDG_STATE_HOME="$sandbox/state"
export XDG_RUNTIME_DIR="$sandbox/run"
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
export MSGOPS_SECRET_SERVICE=1
export MSGOPS_KEYRING_SANDBOX="$sandbox"
unset DISPLAY WAYLAND_DISPLAY
status=0
dbus-run-session -- sh -c '
    echo -n msgops-test-keyring-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    exec "$@"
' sh "$@" || status=$?
exit "$status"
