#!/usr/bin/env bash
# Installs what building and testing Strive needs on a fresh Debian 12 machine. Safe to re-run:
# every step checks before it acts.
set -euo pipefail

need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# PostgreSQL 15 server binaries (the server and the tests run their own private cluster with
# them), what -sys crates need to build (OpenSSL for SQLCipher, libdbus for the keychain), a
# D-Bus daemon with gnome-keyring (the keychain tests start their own Secret Service), what the
# desktop app builds against (WebKitGTK, GTK, librsvg), and what its tests drive: a virtual
# display (Xvfb), WebKitWebDriver, and Chromium for the UI's browser tests.
packages=(postgresql-15 postgresql-contrib build-essential pkg-config libssl-dev ca-certificates curl
          libdbus-1-dev dbus dbus-daemon dbus-x11 gnome-keyring python3-venv libwebkit2gtk-4.1-dev libgtk-3-dev
          librsvg2-dev xvfb xauth webkit2gtk-driver chromium)
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

# The UI toolchain (Vite 7 wants Node 20.19 or later) and its packages, from the lockfile. A
# stamp of the lockfile's hash skips `npm ci` when node_modules already matches it.
if ! command -v node >/dev/null 2>&1 || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "setup: Node.js 20.19 or later is needed for the UI (ui/); install it and re-run" >&2
  exit 1
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
stamp="$root/ui/node_modules/.strive-lock.sha256"
want="$(sha256sum "$root/ui/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: npm ci in ui/"
  (cd "$root/ui" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi

# tauri-driver: the WebDriver bridge the real-window test talks to.
if ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "setup: cargo install --locked tauri-driver"
  cargo install --locked --quiet tauri-driver
fi
echo "setup: ok ($(cargo --version), node $(node --version))"
