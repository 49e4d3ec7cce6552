#!/usr/bin/env bash
# The proof suites' long profile: convergence 5 devices x 2,000 steps, 100 crash rounds,
# 1,000 event-stream clients, schemathesis with 500 examples per operation, and each cargo-fuzz
# target for a bounded time (FUZZ_SECONDS, default 120). Results go to docs/reliability.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/strive-target}"
export STRIVE_PROOF=long
cargo test --release --locked -p strive-proof -- --nocapture --test-threads 1

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
for target in $(cargo fuzz list); do
  echo "fuzz: $target for ${FUZZ_SECONDS:-120} s"
  cargo fuzz run -s none "$target" -- -max_total_time="${FUZZ_SECONDS:-120}"
done
