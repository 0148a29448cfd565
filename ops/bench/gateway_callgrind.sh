#!/usr/bin/env bash
# Instructions per proxied call in the gateway process, counted by callgrind: a measure that
# does not move with the machine's load (wall-clock benchmarks on the shared 2-core box do).
#
#   wrk → gatewatch gateway (release, under valgrind --tool=callgrind) → upstream (nginx)
#                     └─ every call recorded, batches shipped to a collector
#
# The gateway runs the bench's plain route (`/bench`, recording on, masking defaults). After a
# warm-up the counters are zeroed, REQUESTS calls are made (wrk, keep-alive), the script waits
# until the gateway has shipped every record, then dumps the counters: instructions per call =
# Ir of the dump / calls the gateway counted in between (its own /metrics). The per-second
# background work (config poll, sampler) is in the figure; IDLE_SECS=5 measures it alone.
#
#   ops/bench/gateway_callgrind.sh
#   REQUESTS=20000 CONNECTIONS=8 COLLECTOR=real ops/bench/gateway_callgrind.sh
#   GATEWATCH=/path/to/gatewatch ops/bench/gateway_callgrind.sh    # a given build, no cargo
#   ENTITIES=ops/bench/policies/checks_on.toml TARGET=/checked/a/b?q=select+a+seat \
#     ops/bench/gateway_callgrind.sh                                  # an API of the config log
#
# Environment: SETUP_SH (a scenario sourced after migrate, see ops/bench/signature_setup.sh),
# REQUESTS (20000), WARMUP (2000), CONNECTIONS (8), COLLECTOR (stub: an nginx
# server block answering 200 to every batch; real: gatewatch collector into ClickHouse, and the
# rows are counted), IDLE_SECS (0), TOP (25 functions printed), KEEP_TMP=1 keeps the callgrind
# output, UPSTREAM_PORT (18181), GATEWAY_PORT (18183), GATEWAY_ADMIN_PORT (18184: the gateway's
# own /healthz and /metrics), COLLECTOR_PORT (18191), BENCH_DB
# (gatewatch_bench_cg). To measure an API's policies: ENTITIES (or APPLY: an entities file,
# `[[api]]` …, applied with `gatewatch config apply` after the migration, before the gateway
# starts; `@UPSTREAM@` or `UPSTREAM` in it becomes the bench upstream's URL), WRK_PATH (or
# TARGET: the path and query called, default /bench/hello), GATEWAY_TOML (lines added to
# `[gateway]`), EXTRA_TOML (appended to the gateway's configuration: `[gateway.jwt]`...),
# WRK_HEADER (one header every call sends: `Origin: https://a.example`), WRK_SCRIPT (a wrk Lua
# script: `wrk.method = "POST"` …), SETUP_SH (a scenario sourced after the migration, see
# ops/bench/signature_setup.sh; it may set WRK_PATH and WRK_EXTRA).
set -euo pipefail
cd "$(dirname "$0")/../.."
. ops/lib/common.sh
BENCH_DB="${BENCH_DB:-gatewatch_bench_cg}"
GATEWATCH_GIVEN="${GATEWATCH:-}"
. ops/bench/lib.sh

REQUESTS="${REQUESTS:-20000}"
WARMUP="${WARMUP:-2000}"
CONNECTIONS="${CONNECTIONS:-8}"
COLLECTOR="${COLLECTOR:-stub}"
IDLE_SECS="${IDLE_SECS:-0}"
TOP="${TOP:-25}"
UPSTREAM_PORT="${UPSTREAM_PORT:-18181}"
GATEWAY_PORT="${GATEWAY_PORT:-18183}"
GATEWAY_ADMIN_PORT="${GATEWAY_ADMIN_PORT:-18184}"
COLLECTOR_PORT="${COLLECTOR_PORT:-18191}"
ENTITIES="${ENTITIES:-${APPLY:-}}"
WRK_PATH="${WRK_PATH:-${TARGET:-/bench/hello}}"
GATEWAY_TOML="${GATEWAY_TOML:-}"
EXTRA_TOML="${EXTRA_TOML:-}"
WRK_HEADER="${WRK_HEADER:-}"
WRK_SCRIPT="${WRK_SCRIPT:-}"

apt_install wrk nginx-light curl valgrind
ensure_clickhouse
build_gatewatch
require_free_ports "$UPSTREAM_PORT" "$GATEWAY_PORT" "$GATEWAY_ADMIN_PORT" "$COLLECTOR_PORT"
bench_init
T="$BENCH_TMP"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

BODY='{"ok":true,"msg":"hello from the bench upstream"}'
mkdir -p "$T/upstream-tmp" && chmod 777 "$T/upstream-tmp"
stub=""
if [ "$COLLECTOR" = stub ]; then
  stub="server { listen 127.0.0.1:$COLLECTOR_PORT; client_max_body_size 0;
    location / { default_type application/json; return 200 '{\"accepted\":0,\"rejected\":0}'; } }"
fi
cat >"$T/upstream.conf" <<EOF
worker_processes 1;
pid $T/upstream.pid;
error_log $T/upstream-error.log warn;
events { worker_connections 1024; }
http {
  client_body_temp_path $T/upstream-tmp/client_body;
  proxy_temp_path $T/upstream-tmp/proxy;
  fastcgi_temp_path $T/upstream-tmp/fastcgi;
  uwsgi_temp_path $T/upstream-tmp/uwsgi;
  scgi_temp_path $T/upstream-tmp/scgi;
  access_log off;
  server {
    listen 127.0.0.1:$UPSTREAM_PORT;
    keepalive_requests 1000000;
    location / { default_type application/json; return 200 '$BODY'; }
  }
  $stub
}
EOF
cat >"$T/gatewatch.toml" <<EOF
data_dir = "$T/data"
node = "bench"

[clickhouse]
url = "$CLICKHOUSE_URL"
database = "$BENCH_DB"

[gateway]
listen = "127.0.0.1:$GATEWAY_PORT"
admin_listen = "127.0.0.1:$GATEWAY_ADMIN_PORT"
collector_url = "http://127.0.0.1:$COLLECTOR_PORT"
$GATEWAY_TOML

[collector]
listen = "127.0.0.1:$COLLECTOR_PORT"

[security]
pepper = "bench-pepper-not-a-secret-0123456789"

[[routes]]
prefix = "/bench"
upstreams = ["http://127.0.0.1:$UPSTREAM_PORT"]
strip_prefix = true
name = "bench"

$EXTRA_TOML
EOF
"$NGINX" -t -q -p "$T" -c "$T/upstream.conf"
bench_start upstream "$NGINX" -p "$T" -c "$T/upstream.conf" -g "daemon off;"
wait_http "http://127.0.0.1:$UPSTREAM_PORT/hello" 10 "$LAST_PID"

log "dropping and migrating database $BENCH_DB"
ch "DROP DATABASE IF EXISTS $BENCH_DB" >/dev/null
"$GATEWATCH" --config "$T/gatewatch.toml" --log warn migrate >/dev/null
if [ -n "$ENTITIES" ]; then
  sed -e "s|@UPSTREAM@|http://127.0.0.1:$UPSTREAM_PORT|g" -e "s|UPSTREAM|http://127.0.0.1:$UPSTREAM_PORT|g" \
    "$ENTITIES" >"$T/entities.toml"
  "$GATEWATCH" --config "$T/gatewatch.toml" --log warn config apply --author bench "$T/entities.toml" >/dev/null
fi
# A scenario's own setup (SETUP_SH, e.g. ops/bench/signature_setup.sh) may make entities and
# set WRK_PATH and WRK_EXTRA (wrk arguments, e.g. a Lua script making each request).
WRK_EXTRA=()
if [ -n "${SETUP_SH:-}" ]; then
  . "$SETUP_SH"
fi
if [ "$COLLECTOR" = real ]; then
  bench_start collector "$GATEWATCH" --config "$T/gatewatch.toml" collector
  wait_http "http://127.0.0.1:$COLLECTOR_PORT/healthz" 30 "$LAST_PID"
fi
bench_start gateway valgrind --tool=callgrind --callgrind-out-file="$T/callgrind.out" \
  "$GATEWATCH" --config "$T/gatewatch.toml" --log warn gateway
GATEWAY_PID=$LAST_PID
wait_http "http://127.0.0.1:$GATEWAY_ADMIN_PORT/healthz" 120 "$GATEWAY_PID"

metric() { # NAME-PREFIX → sum of its series
  curl -sf "http://127.0.0.1:$GATEWAY_ADMIN_PORT/metrics" |
    awk -v n="$1" 'index($0, n) == 1 && ($0 ~ /^[a-z_]+(\{[^}]*\})? /) {s += $NF} END {printf "%d", s}'
}
load() { # COUNT : wrk until the gateway has counted COUNT more calls, then wrk is stopped
  # (wrk itself only stops on a duration). The figure uses the gateway's own count.
  local goal=$(($(metric gatewatch_gateway_requests_total) + $1))
  wrk -t1 -c"$CONNECTIONS" -d600s --timeout 30s ${WRK_HEADER:+-H "$WRK_HEADER"} \
    ${WRK_SCRIPT:+-s "$WRK_SCRIPT"} ${WRK_EXTRA[@]+"${WRK_EXTRA[@]}"} \
    "http://127.0.0.1:$GATEWAY_PORT$WRK_PATH" >"$T/wrk-$1.txt" 2>&1 &
  local wrk_pid=$!
  while [ "$(metric gatewatch_gateway_requests_total)" -lt "$goal" ]; do
    if ! kill -0 "$wrk_pid" 2>/dev/null; then
      echo "wrk ended early: $(cat "$T/wrk-$1.txt")" >&2
      return 1
    fi
    sleep 0.5
  done
  kill -INT "$wrk_pid" 2>/dev/null || true
  wait "$wrk_pid" 2>/dev/null || true
}
wait_shipped() {
  for _ in $(seq 1 240); do
    [ "$(metric gatewatch_gateway_records_shipped_total)" -ge "$(metric gatewatch_gateway_requests_total)" ] && return 0
    sleep 0.5
  done
  echo "the gateway did not ship every record within 120 s" >&2
  return 1
}
dump() { # NAME : zero-to-now counters into $T/callgrind.out.N; prints the file's Ir total
  callgrind_control -d "$1" "$GATEWAY_PID" >/dev/null
  local f
  f=$(ls -t "$T"/callgrind.out.* | head -1)
  awk '/^(summary|totals):/ {print $2; exit}' "$f"
  echo "$f" >"$T/last-dump"
}

log "warm-up: $WARMUP calls"
load "$WARMUP"
wait_shipped
if [ "$IDLE_SECS" -gt 0 ]; then
  callgrind_control -z "$GATEWAY_PID" >/dev/null
  sleep "$IDLE_SECS"
  idle_ir=$(dump idle)
  log "idle: $idle_ir instructions in ${IDLE_SECS}s ($((idle_ir / IDLE_SECS)) per second)"
fi
c0=$(metric gatewatch_gateway_requests_total)
callgrind_control -z "$GATEWAY_PID" >/dev/null
t0=$(date +%s.%N)
log "measuring: $REQUESTS calls, wrk -t1 -c$CONNECTIONS"
load "$REQUESTS"
wait_shipped
c1=$(metric gatewatch_gateway_requests_total)
ir=$(dump measured)
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
calls=$((c1 - c0))
shipped=$(metric gatewatch_gateway_records_shipped_total)
dropped=$(metric gatewatch_gateway_records_dropped_total)

echo
echo "gateway under callgrind — $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo '+dirty')${GATEWATCH_GIVEN:+ (binary measured: $GATEWATCH_GIVEN)}"
echo "calls measured: $calls (wrk -t1 -c$CONNECTIONS, stopped at $REQUESTS), ${secs}s under valgrind; collector: $COLLECTOR"
echo "target: $WRK_PATH${ENTITIES:+, entities: $ENTITIES}${WRK_SCRIPT:+, wrk script: $WRK_SCRIPT}"
echo "instructions: $ir total, $(awk -v i="$ir" -v c="$calls" 'BEGIN {printf "%.0f", i / c}') per call"
echo "records: shipped $shipped of $(metric gatewatch_gateway_requests_total) counted, dropped $dropped"
echo "answers not 2xx/3xx (wrk, warm-up and measured): $(cat "$T"/wrk-*.txt | awk '/Non-2xx/ {s += $NF} END {print s + 0}')"
if [ "$COLLECTOR" = real ]; then
  rows=0
  for _ in $(seq 1 60); do
    rows=$(ch "SELECT count() FROM $BENCH_DB.api_calls")
    [ "$rows" -ge "$shipped" ] && break
    sleep 0.5
  done
  echo "rows in $BENCH_DB.api_calls: $rows (distinct call ids: $(ch "SELECT uniqExact(call_id) FROM $BENCH_DB.api_calls"))"
fi
f=$(cat "$T/last-dump")
echo
echo "top $TOP functions, exclusive (share of the measured instructions):"
callgrind_annotate --inclusive=no "$f" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -"$TOP" || true  # head closes the pipe early (SIGPIPE under pipefail)
echo
echo "top $TOP, inclusive:"
callgrind_annotate --inclusive=yes "$f" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -"$TOP" || true  # head closes the pipe early (SIGPIPE under pipefail)
if [ "${KEEP_TMP:-0}" = 1 ]; then
  echo
  echo "callgrind output: $f"
fi
