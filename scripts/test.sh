#!/usr/bin/env bash
# Sets up and runs every test: unit tests, and integration tests against a real PostgreSQL (a
# private throwaway cluster each test binary starts and removes) and a real server on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/strive-target}"
cargo test --workspace --locked "$@"
