#!/usr/bin/env bash
# Runs a command with an unlocked Secret Service (gnome-keyring) on the current D-Bus session
# (use under `dbus-run-session`). Its keyrings go to a throwaway HOME, so nothing of the
# machine's own is touched; the daemon ends with the session.
set -euo pipefail
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
export HOME="$home"
printf 'strive-test-keyring' | gnome-keyring-daemon --unlock --components=secrets >/dev/null
"$@"
