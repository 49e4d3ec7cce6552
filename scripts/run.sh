#!/usr/bin/env bash
# Sets up, builds and runs Strive: the central server on its embedded PostgreSQL (kept under its
# data dir) and the desktop app connected to it. Closing the app stops the server.
#
#   scripts/run.sh            # an empty server: create your account in the app
#   scripts/run.sh --demo     # a demo organization full of sample data, signed in
#   scripts/run.sh --server-only [--bind 0.0.0.0:8787]
set -euo pipefail
cd "$(dirname "$0")/.."
demo=0 server_only=0 bind="127.0.0.1:8787"
while [ $# -gt 0 ]; do
  case "$1" in
    --demo) demo=1 ;;
    --server-only) server_only=1 ;;
    --bind) bind="$2"; shift ;;
    --bind=*) bind="${1#--bind=}" ;;
    *) echo "usage: scripts/run.sh [--demo] [--server-only] [--bind ADDR:PORT]" >&2; exit 2 ;;
  esac
  shift
done

scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/strive-target}"
bin="$CARGO_TARGET_DIR/release"
if [ "$server_only" = 1 ]; then
  cargo build --release --locked -p strive-server
  exec "$bin/strive-server" serve --bind "$bind"
fi
(cd ui && npm run --silent build)
cargo build --release --locked -p strive-server -p strive-desktop

"$bin/strive-server" serve --bind "$bind" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true' EXIT
url="http://${bind/0.0.0.0/127.0.0.1}"
for _ in $(seq 1 300); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "run: the server did not start" >&2; exit 1; }
  sleep 0.2
done
echo "run: server on $url"
export STRIVE_SERVER="$url"

# The app keeps its keys in the desktop's keychain. Without a desktop session (a bare machine or
# SSH), give it a D-Bus session with an unlocked gnome-keyring, and a virtual display if there
# is no screen (the app then runs unseen; use a desktop to see it).
app=("$bin/strive-desktop")
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  app=(dbus-run-session -- bash -c 'printf "strive" | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec "$0" "$@"' "${app[@]}")
fi
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display here; the app runs on a virtual one (xvfb). Connect from a desktop to see it."
  app=(xvfb-run -a -s "-screen 0 1600x1000x24" "${app[@]}")
fi
if [ "$demo" = 1 ]; then
  # Seeding and the app share one keychain session, so the app opens signed in.
  exec_demo='"$0" --seed-demo && exec "$0"'
  app=("${app[@]:0:${#app[@]}-1}" bash -c "$exec_demo" "$bin/strive-desktop")
fi
"${app[@]}"
