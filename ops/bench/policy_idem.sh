#!/usr/bin/env bash
# Cost per call of idempotency keys and transaction tokens (issue 17), on and off: runs
# ops/bench/gateway_callgrind.sh once per variant, each a POST of the same small JSON body to
# the same nginx through a public API of ops/bench/policy_idem/apis.toml:
#
#   off      the API without a policy
#   nokey    idempotency on, the call without Idempotency-Key (the policy's branch only)
#   first    idempotency on, a new key every call (body read whole and hashed, the answer
#            tapped and kept)
#   replay   idempotency on, the same key every call (answered from memory, no upstream)
#   tx       tx_token on, a fresh token every call (verified, its id remembered)
#
#   ops/bench/policy_idem.sh                 # all five
#   VARIANTS="off first" ops/bench/policy_idem.sh
#
# REQUESTS (10000) and WARMUP (1000) are passed on; the binary is built once.
set -euo pipefail
cd "$(dirname "$0")/../.."
. ops/lib/common.sh
D=ops/bench/policy_idem
export REQUESTS="${REQUESTS:-10000}" WARMUP="${WARMUP:-1000}" ENTITIES="$D/apis.toml"
VARIANTS="${VARIANTS:-off nokey first replay tx}"
if [ -z "${GATEWATCH:-}" ]; then
  cargo build --release --locked --bin gatewatch
  export GATEWATCH="$(pwd)/target/release/gatewatch"
fi
fifo=""
minter=""
cleanup() {
  [ -n "$minter" ] && kill "$minter" 2>/dev/null || true
  [ -n "$fifo" ] && rm -f "$fifo"
}
trap cleanup EXIT
declare -A per_call
for v in $VARIANTS; do
  case "$v" in
    off) path=/off/charge script=$D/post.lua ;;
    nokey) path=/idem/charge script=$D/post.lua ;;
    first) path=/idem/charge script=$D/key_unique.lua ;;
    replay) path=/idem/charge script=$D/key_same.lua ;;
    tx)
      path=/tx/charge script=$D/tx.lua
      fifo=$(mktemp -u /tmp/gatewatch-tx-XXXXXX)
      mkfifo "$fifo"
      python3 "$D/mint.py" "$fifo" &
      minter=$!
      export TX_FIFO="$fifo"
      ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  out=$(WRK_PATH=$path WRK_SCRIPT=$script ops/bench/gateway_callgrind.sh)
  echo "$out" | sed -n '1,/^top /p' | sed '$d' | sed "s/^/[$v] /"
  per_call[$v]=$(echo "$out" | awk '/per call/ {print $(NF-2)}')
done
echo
echo "instructions per call (callgrind, $REQUESTS calls after $WARMUP):"
for v in $VARIANTS; do
  printf '  %-7s %s\n' "$v" "${per_call[$v]}"
done
