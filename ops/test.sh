#!/usr/bin/env bash
# Runs every test against real parts: installs and starts what the tests need (ClickHouse,
# aiosmtpd, chromium and chromedriver from Debian's packages), checks formatting and lints, then runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. ops/lib/common.sh

ensure_rust
ensure_clickhouse
# The alerter's e-mail tests send to a real SMTP server (aiosmtpd) that they start themselves;
# they run it with Debian's python3, where this package lives.
apt_install python3-aiosmtpd
# Charts draw Chinese API names: the chart tests insist on a CJK font (Noto Sans CJK TC), and
# check that a Latin-only one (DejaVu) is known to lack Chinese.
apt_install fonts-noto-cjk fonts-dejavu-core
# The web UI's tests (tests/e2e/ui/) drive a real headless Chromium through chromedriver.
apt_install chromium chromium-driver
# The path-attack tests (tests/e2e/path_attacks.rs) judge each spelling by what a real nginx,
# as the upstream, serves.
apt_install nginx
# The README's shell examples (tests/e2e/readme.rs runs each) read answers with jq and query
# the test database with clickhouse-client (ensure_clickhouse installs it).
apt_install jq

# The cluster tests (tests/cluster/) run on a ClickHouse cluster on loopback: ZooKeeper and
# four servers (ops/cluster/), stopped again when this script ends.
log "cluster harness (ops/cluster/up.sh)"
bash ops/cluster/up.sh
trap 'bash ops/cluster/down.sh >/dev/null 2>&1 || true' EXIT

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo test"
# Tests that need ClickHouse each use a database of their own (gwt_<name>; another prefix with
# GATEWATCH_TEST_DB_PREFIX, for a second run against the same server), so they run in
# parallel; tests that stop a server start a private one on other ports.
mkdir -p target
set +e
cargo test --workspace --locked 2>&1 | tee target/test-output.log
status=${PIPESTATUS[0]}
set -e
# Each test binary prints its own result line; sum them for one closing line.
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' target/test-output.log | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' target/test-output.log | awk '{s+=$1} END {print s+0}')

# The schema on a current ClickHouse release: Debian only has 18.16, so use the engine that
# chDB (PyPI) embeds. Kept in a venv under target/ so later runs reuse it.
log "schema and rollups on a current ClickHouse (chDB)"
venv=target/compat-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
fi
"$venv/bin/python" -c "import chdb" 2>/dev/null || "$venv/bin/python" -m pip install -q chdb-core
if "$venv/bin/python" ops/compat/current_clickhouse.py target/debug/gatewatch; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); status=1
fi

# The admin and report API against its own OpenAPI document: schemathesis (PyPI, pinned in the
# script) fuzzes a private site of the binary the tests built; any failure fails the step.
log "admin API fuzzed against its OpenAPI document (schemathesis)"
if ops/schemathesis.sh; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); status=1
fi

echo "${passed} passed, ${failed} failed"
exit "$status"
