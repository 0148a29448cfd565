#!/usr/bin/env bash
# Access tokens issued per second by the gateway's authorization server, all on loopback, with
# ab (apache2-utils, keep-alive), two targets on the same gateway process:
#   token  POST /oauth2/token, grant_type=client_credentials, the client's secret by HTTP
#          Basic: a form parsed, one HMAC-SHA256 of the secret, the scopes gathered, one ES256
#          signature, the answer — every request recorded and shipped through the collector
#          into ClickHouse (database $BENCH_DB, dropped at start)
#   jwks   GET /oauth2/jwks: the reference, a path the gateway answers itself from memory,
#          recorded the same way; the difference is the token endpoint's own work
# The client and its secret are made through the admin API (a dashboards process started for
# the purpose and stopped before measuring). Prints requests/s, mean and p99 latency and the
# gateway's CPU per request for each target, then checks that every token request was
# recorded (rows with route '/oauth2/token' and a jti = tokens ab got, all jti distinct).
#
#   ops/bench/oauth_tokens.sh
#   DURATION_SECS=20 AB_CONNECTIONS=32 ops/bench/oauth_tokens.sh
#   GATEWATCH=/tmp/gatewatch ops/bench/oauth_tokens.sh   # a binary already built
#
# Environment: WARMUP_SECS (2), DURATION_SECS (10), AB_CONNECTIONS (16), GATEWAY_PORT (18183),
# GATEWAY_ADMIN_PORT (18185), COLLECTOR_PORT (18191), DASHBOARDS_PORT (18190),
# BENCH_DB (gatewatch_bench_oauth), FLUSH_WAIT_SECS (30), KEEP_TMP=1, GATEWATCH.
set -euo pipefail
cd "$(dirname "$0")/../.."
. ops/lib/common.sh
BENCH_DB="${BENCH_DB:-gatewatch_bench_oauth}"
. ops/bench/lib.sh

WARMUP_SECS="${WARMUP_SECS:-2}"
DURATION_SECS="${DURATION_SECS:-10}"
AB_CONNECTIONS="${AB_CONNECTIONS:-16}"
GATEWAY_PORT="${GATEWAY_PORT:-18183}"
GATEWAY_ADMIN_PORT="${GATEWAY_ADMIN_PORT:-18185}"
COLLECTOR_PORT="${COLLECTOR_PORT:-18191}"
DASHBOARDS_PORT="${DASHBOARDS_PORT:-18190}"
FLUSH_WAIT_SECS="${FLUSH_WAIT_SECS:-30}"

apt_install apache2-utils curl procps
ensure_clickhouse
build_gatewatch
require_free_ports "$GATEWAY_PORT" "$GATEWAY_ADMIN_PORT" "$COLLECTOR_PORT" "$DASHBOARDS_PORT"
bench_init
T="$BENCH_TMP"

cat >"$T/gatewatch.toml" <<EOF
data_dir = "$T/data"
node = "bench-oauth"

[clickhouse]
url = "$CLICKHOUSE_URL"
database = "$BENCH_DB"

[gateway]
listen = "127.0.0.1:$GATEWAY_PORT"
admin_listen = "127.0.0.1:$GATEWAY_ADMIN_PORT"
collector_url = "http://127.0.0.1:$COLLECTOR_PORT"

[gateway.oauth]
issuer = "http://127.0.0.1:$GATEWAY_PORT"
token_ttl_secs = 3600

[collector]
listen = "127.0.0.1:$COLLECTOR_PORT"

[dashboards]
listen = "127.0.0.1:$DASHBOARDS_PORT"

[security]
pepper = "bench-pepper-not-a-secret-0123456789"
EOF

log "database $BENCH_DB: dropped and migrated"
ch "DROP DATABASE IF EXISTS $BENCH_DB" >/dev/null
"$GATEWATCH" --config "$T/gatewatch.toml" --log warn migrate >/dev/null

# The client, with two scopes and a secret, through the admin API.
A="http://127.0.0.1:$DASHBOARDS_PORT/api/v1"
PW="bench-password-0123456789"
echo "$PW" | "$GATEWATCH" --config "$T/gatewatch.toml" --log warn user add bench --role admin --password-stdin >/dev/null
bench_start dashboards "$GATEWATCH" --config "$T/gatewatch.toml" dashboards
DASH_PID=$LAST_PID
wait_http "http://127.0.0.1:$DASHBOARDS_PORT/healthz" 30 "$DASH_PID"
CSRF=$(curl -sf -c "$T/jar" -H 'content-type: application/json' \
  -d "{\"user\":\"bench\",\"password\":\"$PW\"}" "$A/login" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf_token"])')
H=(-sf -b "$T/jar" -H "X-CSRF-Token: $CSRF" -H 'content-type: application/json')
curl "${H[@]}" -d '{"id":"bench-client","name":"bench client","scopes":["orders.read","orders.write"]}' "$A/clients" >/dev/null
SECRET=$(curl "${H[@]}" -d '{}' "$A/clients/bench-client/secret" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
bench_stop "$DASH_PID"

bench_start collector "$GATEWATCH" --config "$T/gatewatch.toml" --log warn collector
COLLECTOR_PID=$LAST_PID
wait_http "http://127.0.0.1:$COLLECTOR_PORT/healthz" 30 "$COLLECTOR_PID"
bench_start gateway "$GATEWATCH" --config "$T/gatewatch.toml" --log warn gateway
GATEWAY_PID=$LAST_PID
wait_http "http://127.0.0.1:$GATEWAY_ADMIN_PORT/healthz" 30 "$GATEWAY_PID"

TOKEN_URL="http://127.0.0.1:$GATEWAY_PORT/oauth2/token"
JWKS_URL="http://127.0.0.1:$GATEWAY_PORT/oauth2/jwks"
printf 'grant_type=client_credentials' >"$T/token-body"
for _ in $(seq 1 50); do
  if curl -sf -o /dev/null -u "bench-client:$SECRET" --data-binary @"$T/token-body" \
    -H 'content-type: application/x-www-form-urlencoded' "$TOKEN_URL"; then break; fi
  sleep 0.2
done
curl -sf -u "bench-client:$SECRET" --data-binary @"$T/token-body" \
  -H 'content-type: application/x-www-form-urlencoded' "$TOKEN_URL" >"$T/token.json"
python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); assert t["token_type"]=="Bearer", t' "$T/token.json"

machine_facts
echo "ab -k -c $AB_CONNECTIONS, ${DURATION_SECS}s per target after ${WARMUP_SECS}s of warm-up"

# run NAME ARGS... : ab for WARMUP_SECS (not counted), then DURATION_SECS measured.
declare -A RPS MEAN P99 CPU DONE FAILED
run() {
  local name=$1
  shift
  ab -k -q -c "$AB_CONNECTIONS" -t "$WARMUP_SECS" -n 100000000 "$@" >"$T/ab-$name-warmup.txt" 2>&1
  local t0 t1
  t0=$(cpu_ticks "$GATEWAY_PID")
  ab -k -q -c "$AB_CONNECTIONS" -t "$DURATION_SECS" -n 100000000 "$@" >"$T/ab-$name.txt" 2>&1
  t1=$(cpu_ticks "$GATEWAY_PID")
  RPS[$name]=$(awk '/^Requests per second/ {print $4}' "$T/ab-$name.txt")
  MEAN[$name]=$(awk '/^Time per request/ && !/across/ {print $4; exit}' "$T/ab-$name.txt")
  P99[$name]=$(awk '/^  99%/ {print $2}' "$T/ab-$name.txt")
  DONE[$name]=$(awk '/^Complete requests/ {print $3}' "$T/ab-$name.txt")
  FAILED[$name]=$(awk '/^Failed requests/ {print $3}' "$T/ab-$name.txt")
  local non2xx
  non2xx=$(awk '/^Non-2xx responses/ {print $3}' "$T/ab-$name.txt")
  FAILED[$name]=$((${FAILED[$name]:-0} + ${non2xx:-0}))
  CPU[$name]=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="${DONE[$name]}" \
    'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
}

run jwks "$JWKS_URL"
run token -A "bench-client:$SECRET" -p "$T/token-body" -T application/x-www-form-urlencoded "$TOKEN_URL"

printf '\n%-8s %12s %10s %10s %10s %10s %14s\n' target requests/s mean_ms p99_ms requests failed gw_cpu_us/req
for n in jwks token; do
  printf '%-8s %12s %10s %10s %10s %10s %14s\n' "$n" "${RPS[$n]}" "${MEAN[$n]}" "${P99[$n]}" "${DONE[$n]}" "${FAILED[$n]}" "${CPU[$n]}"
done
awk -v t="${RPS[token]}" -v j="${RPS[jwks]}" 'BEGIN { printf "token / jwks: x%.2f requests/s\n", t / j }'

# Every token request is one record: warm-up + measured + the two curl calls that got a token.
log "waiting up to ${FLUSH_WAIT_SECS}s for the records"
want=$(cat "$T/ab-token-warmup.txt" "$T/ab-token.txt" |
  awk '/^Complete requests/ {s += $3} /^(Failed requests|Non-2xx responses)/ {s -= $3} END {print s + 2}')
rows=0
for _ in $(seq 1 "$FLUSH_WAIT_SECS"); do
  rows=$(ch "SELECT count() FROM $BENCH_DB.api_calls WHERE route = '/oauth2/token' AND client_id = 'bench-client' AND outcome = 'ok' AND token_jti != ''")
  [ "$rows" -ge "$want" ] && break
  sleep 1
done
distinct=$(ch "SELECT uniqExact(token_jti) FROM $BENCH_DB.api_calls WHERE route = '/oauth2/token' AND outcome = 'ok'")
# ab stops at its time limit with a request in flight on each connection: the gateway may
# still answer (and record) it, uncounted by ab — at most one per connection per ab run.
slack=$((2 * AB_CONNECTIONS))
echo "token records: $rows rows with a jti ($distinct distinct) for $want tokens ab counted (+ up to $slack in flight when ab stopped)"
if [ "$rows" -lt "$want" ] || [ "$rows" -gt $((want + slack)) ] || [ "$distinct" != "$rows" ]; then
  echo "records and tokens differ" >&2
  exit 1
fi
