#!/usr/bin/env bash
# Installs what building and testing Strive needs on a fresh Debian 12 machine. Safe to re-run:
# every step checks before it acts.
set -euo pipefail

need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# PostgreSQL 15 server binaries (the server and the tests run their own private cluster with
# them), what -sys crates need to build (OpenSSL for SQLCipher, libdbus for the keychain), and a
# D-Bus daemon with gnome-keyring (the keychain tests start their own Secret Service).
packages=(postgresql-15 postgresql-contrib build-essential pkg-config libssl-dev ca-certificates curl
          libdbus-1-dev dbus dbus-daemon gnome-keyring python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  need_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: cargo not found; install Rust (https://rustup.rs) and re-run" >&2
    exit 1
  fi
fi
# schemathesis (PyPI), which fuzzes the server through its OpenAPI description in the proof suite.
venv=/opt/strive-venv
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "4.32.5"; then
  echo "setup: installing schemathesis into $venv"
  need_root python3 -m venv "$venv"
  need_root "$venv/bin/pip" install -q --disable-pip-version-check schemathesis==4.32.5
fi

echo "setup: ok ($(cargo --version))"
