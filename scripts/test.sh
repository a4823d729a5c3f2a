#!/usr/bin/env bash
# Runs every test of the project. Installs what the tests need on a fresh
# machine: Debian's chromium (the browser journeys) and, from the npm
# registry, playwright-core at the version e2e/package-lock.json pins.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== format"
cargo fmt --all -- --check

echo "== lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== doc tests"
cargo test --workspace --locked --doc

echo "== tests"
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi

echo "== browser journeys (headless Chromium)"
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
(cd e2e && npm ci --no-audit --no-fund --silent)
cargo build --locked -q -p switchboard
node e2e/journeys.mjs target/debug/switchboard
