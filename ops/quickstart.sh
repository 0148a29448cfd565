#!/usr/bin/env bash
# Sets up and runs gatewatch on this machine: installs and starts ClickHouse (Debian's
# packages) if needed, builds gatewatch, and runs every role with demo traffic.
#   ops/quickstart.sh            # gatewatch up --demo
#   ops/quickstart.sh up         # without the demo
set -euo pipefail
cd "$(dirname "$0")/.."
. ops/lib/common.sh

ensure_rust
ensure_clickhouse
# PNG charts (report mail) draw Chinese API names with it; see [reports] font.
apt_install fonts-noto-cjk
# The README's admin API examples read answers with jq.
apt_install jq
log "building gatewatch (release)"
cargo build --release --locked --bin gatewatch
if [ $# -eq 0 ]; then set -- up --demo; fi
log "running gatewatch $*"
exec ./target/release/gatewatch "$@"
