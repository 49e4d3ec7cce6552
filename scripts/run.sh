#!/usr/bin/env bash
# Sets up and runs the Strive central server on its embedded PostgreSQL (kept under its data dir).
# Then: open http://127.0.0.1:8787/openapi.json, or use the API as shown in the README.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/strive-target}"
cargo build --release --locked -p strive-server
exec "$CARGO_TARGET_DIR/release/strive-server" serve "$@"
