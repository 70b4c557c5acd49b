#!/usr/bin/env bash
# Time to the first remote picture, in real headless browsers: B opens a
# one-to-one room's link, types a name and joins; measured from B's page
# load and from its Join click to the first remote video frame B decodes
# (tests/e2e/bench/first-frame.mjs). A fresh server and browsers per run.
#
#   scripts/bench-first-frame.sh             # Chromium joins Chromium, 5 runs
#   RUNS=3 scripts/bench-first-frame.sh --firefox   # Firefox ESR joins
#
# Prints one line per run, then the median, min and max as JSON. Needs
# what the e2e tests need (tests/e2e/README.md). Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
TARGET=${CARGO_TARGET_DIR:-target}

cargo build --release --quiet --bin parlor
cd tests/e2e
[ -d node_modules/puppeteer-core ] || npm ci --no-audit --no-fund --loglevel=error
PARLOR_BIN=${PARLOR_BIN:-"$repo/$TARGET/release/parlor"} node bench/first-frame.mjs --runs "${RUNS:-5}" "$@"
