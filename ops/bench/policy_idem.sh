#!/usr/bin/env bash
# Cost per call of idempotency keys and transaction tokens (issue 17), on and off: runs
# ops/bench/gateway_callgrind.sh once per variant, each a POST of the same small JSON body to
# the same nginx through an API of ops/bench/policy_idem/apis.toml, authenticated by the same
# JWT:
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
# REQUESTS (10000), WARMUP (1000), the ports and BENCH_DB are passed on (see
# gateway_callgrind.sh); the binary is built once.
set -euo pipefail
cd "$(dirname "$0")/../.."
. ops/lib/common.sh
D=ops/bench/policy_idem
export REQUESTS="${REQUESTS:-10000}" WARMUP="${WARMUP:-1000}"
export UPSTREAM_PORT="${UPSTREAM_PORT:-18181}"
# The APIs' upstream is the bench's nginx, on whatever port it is given.
ENTITIES=$(mktemp /tmp/gatewatch-apis-XXXXXX.toml)
sed "s/127.0.0.1:18181/127.0.0.1:$UPSTREAM_PORT/" "$D/apis.toml" >"$ENTITIES"
export ENTITIES
# Every variant authenticates the same way: an HS256 JWT naming client `bench`.
JWT_SECRET="bench-jwt-secret-0123456789abcdef"
export EXTRA_TOML="[gateway.jwt]
hs256_secrets = [\"$JWT_SECRET\"]"
BENCH_AUTH="Bearer $(JWT_SECRET=$JWT_SECRET python3 - <<'PY'
import base64, hashlib, hmac, json, os, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": "bench", "exp": int(time.time()) + 86400}).encode())
sig = hmac.new(os.environ["JWT_SECRET"].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(f"{head}.{body}.{b64(sig)}")
PY
)"
export BENCH_AUTH
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
  rm -f "$ENTITIES"
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
  # Its listings end in `| head` (SIGPIPE under pipefail): judged by its figure instead.
  out=$(WRK_PATH=$path WRK_SCRIPT=$script ops/bench/gateway_callgrind.sh) || true
  echo "$out" | sed -n '1,/^top /p' | sed '$d' | sed "s/^/[$v] /"
  per_call[$v]=$(echo "$out" | awk '/per call/ {print $(NF-2)}')
  [ -n "${per_call[$v]}" ] || { echo "variant $v: no figure" >&2; exit 1; }
done
echo
echo "instructions per call (callgrind, $REQUESTS calls after $WARMUP):"
for v in $VARIANTS; do
  printf '  %-7s %s\n' "$v" "${per_call[$v]}"
done
