#!/usr/bin/env bash
# Sets up and runs every test, in three layers:
# 1. Rust: unit tests, and integration tests against a real PostgreSQL (a private throwaway
#    cluster each test binary starts and removes) and a real server on loopback.
# 2. UI: Vitest unit tests of its logic, then every screen in Debian's Chromium (playwright-core)
#    over a mocked shell.
# 3. The real window: the built app under Xvfb, driven through tauri-driver and WebKitWebDriver,
#    against the real server and PostgreSQL, with a D-Bus session and an unlocked keychain.
# Screenshots land in target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/strive-target}"
export PATH="$HOME/.cargo/bin:$PATH"

# The app embeds the built UI.
(cd ui && npm run --silent build)

echo "== Rust tests"
cargo test --workspace --locked "$@"

echo "== UI unit tests"
(cd ui && npm test --silent)
echo "== UI in Chromium"
(cd ui && npm run --silent e2e)

echo "== The real window"
# The test binaries' build already made target/debug/strive-server; the window test and its
# start-up and memory benchmark drive the release app, the one people run (scripts/run.sh).
cargo build --release --locked -p strive-desktop
export STRIVE_APP_BIN="$CARGO_TARGET_DIR/release/strive-desktop"
xvfb-run -a -s "-screen 0 1600x1000x24" dbus-run-session -- scripts/with-keychain.sh \
  cargo test --locked -p strive-desktop --test window -- --ignored --nocapture
