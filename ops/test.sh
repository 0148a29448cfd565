#!/usr/bin/env bash
# Runs every test against real parts: installs and starts what the tests need (ClickHouse from
# Debian's packages), checks formatting and lints, then runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. ops/lib/common.sh

ensure_rust
ensure_clickhouse

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo test"
# Tests that need ClickHouse each use a database of their own (gwt_<name>), so they run in
# parallel; tests that stop a server start a private one on other ports.
mkdir -p target
set +e
cargo test --workspace --locked 2>&1 | tee target/test-output.log
status=${PIPESTATUS[0]}
set -e
# Each test binary prints its own result line; sum them for one closing line.
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' target/test-output.log | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' target/test-output.log | awk '{s+=$1} END {print s+0}')
echo "${passed} passed, ${failed} failed"
exit "$status"
