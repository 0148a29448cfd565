#!/usr/bin/env bash
# gatewatch's gateway against nginx, with wrk, all on loopback. One upstream (an nginx that
# answers a small fixed body), measured three ways in one run:
#   direct     wrk → upstream
#   nginx      wrk → nginx proxy_pass (upstream{} keepalive, HTTP/1.1, access_log buffered) → upstream
#   gatewatch  wrk → gatewatch gateway → upstream, every call recorded and shipped through
#              gatewatch collector into ClickHouse (database $BENCH_DB, dropped at start)
#   gatewatch-secure  the same gateway process, another API registered through the admin API:
#              API-key authentication (HMAC lookup), the client's TPS bucket and daily quota
#              checked on every call (limits high enough never to refuse), masking of the path
#              and the query (a secret parameter); the record keeps no headers
#   gatewatch-capture  as gatewatch-secure, and the API captures headers: every request and
#              response header goes into the record, masked (the key header whole, detectors
#              over the others)
#   nginx-tls, gatewatch-tls  HTTPS with the same certificate (made here by `gatewatch cert
#              self-signed`, ECDSA P-256, TLS 1.3), keep-alive connections, wrk: nginx's
#              `listen … ssl` server in front of the same upstream, and gatewatch's
#              `[gateway.tls]` listener on the gatewatch target's gateway process
#   nginx-tls-handshake, gatewatch-tls-handshake  the same two listeners, a new TCP connection
#              and a full TLS handshake for every request (no session resumption): ab
#              (apache2-utils) without -k, $AB_PROCS processes of -c $AB_CONNECTIONS each;
#              ab makes a fresh TLS session for every connection (checked on nginx's log:
#              $ssl_session_reused). Requests/s here = full handshakes/s.
# Prints requests/s, p50 and p99 per target and gatewatch's ratios to nginx (and the secure
# API's to the plain one: the cost of auth, limits and masking), then checks that
# the recording kept up (records dropped; rows in ClickHouse vs requests).
#
#   ops/bench/gateway.sh
#   WARMUP_SECS=3 DURATION_SECS=15 WRK_THREADS=2 WRK_CONNECTIONS=64 ops/bench/gateway.sh
#   TARGETS="nginx gatewatch" ops/bench/gateway.sh
#   TARGETS="nginx gatewatch gatewatch-null" ops/bench/gateway.sh
#   TARGETS="nginx gatewatch nginx-tls gatewatch-tls nginx-tls-handshake gatewatch-tls-handshake" ops/bench/gateway.sh
#
# The TLS targets are not in the default TARGETS (the plain run stays as it was); the TLS ones
# need no plain one before them. Each target names its load tool in LOAD[] (wrk or ab) and its
# URL in URL[]; an HTTP/2 target is added the same way (h2load from nghttp2-client, `-D` for a
# duration, ALPN h2) with a parser of its summary in run_load.
#
# gatewatch-null (diagnostic, not in the default TARGETS): the gateway with recording on, but
# shipping to a stub that answers 200 to every batch (an nginx server block), so no collector
# or ClickHouse shares the machine: the gateway's own cost, recording included.
#
# Environment: WARMUP_SECS (3), DURATION_SECS (15), WRK_THREADS (2), WRK_CONNECTIONS (64),
# TARGETS ("direct nginx gatewatch"), UPSTREAM_WORKERS / NGINX_WORKERS (auto),
# UPSTREAM_PORT (18081), NGINX_PORT (18082), GATEWAY_PORT (18083), COLLECTOR_PORT (18091),
# NULL_GATEWAY_PORT (18084), NULL_COLLECTOR_PORT (18092), GATEWAY_ADMIN_PORT (18085),
# NULL_GATEWAY_ADMIN_PORT (18086), NGINX_TLS_PORT (18443), GATEWAY_TLS_PORT (18444),
# AB_PROCS (2) and AB_CONNECTIONS (16) for the handshake targets,
# BENCH_DB (gatewatch_bench), FLUSH_WAIT_SECS (30), KEEP_TMP=1 keeps logs and configuration,
# GATEWATCH (a gatewatch binary to measure instead of building this tree's, for A/B runs),
# PERF=1 records a system-wide perf profile (cpu-clock) of each measured run and prints the
# CPU by thread and the proxy's top symbols.
set -euo pipefail
cd "$(dirname "$0")/../.."
. ops/lib/common.sh
. ops/bench/lib.sh

WARMUP_SECS="${WARMUP_SECS:-3}"
DURATION_SECS="${DURATION_SECS:-15}"
WRK_THREADS="${WRK_THREADS:-2}"
WRK_CONNECTIONS="${WRK_CONNECTIONS:-64}"
TARGETS="${TARGETS:-direct nginx gatewatch gatewatch-secure gatewatch-capture}"
UPSTREAM_WORKERS="${UPSTREAM_WORKERS:-auto}"
NGINX_WORKERS="${NGINX_WORKERS:-auto}"
UPSTREAM_PORT="${UPSTREAM_PORT:-18081}"
NGINX_PORT="${NGINX_PORT:-18082}"
GATEWAY_PORT="${GATEWAY_PORT:-18083}"
COLLECTOR_PORT="${COLLECTOR_PORT:-18091}"
NULL_GATEWAY_PORT="${NULL_GATEWAY_PORT:-18084}"
# The gateways' own /healthz and /metrics are on their admin ports.
GATEWAY_ADMIN_PORT="${GATEWAY_ADMIN_PORT:-18085}"
NULL_GATEWAY_ADMIN_PORT="${NULL_GATEWAY_ADMIN_PORT:-18086}"
NULL_COLLECTOR_PORT="${NULL_COLLECTOR_PORT:-18092}"
NGINX_TLS_PORT="${NGINX_TLS_PORT:-18443}"
GATEWAY_TLS_PORT="${GATEWAY_TLS_PORT:-18444}"
AB_PROCS="${AB_PROCS:-2}"
AB_CONNECTIONS="${AB_CONNECTIONS:-16}"
DASHBOARDS_PORT="${DASHBOARDS_PORT:-18090}"
FLUSH_WAIT_SECS="${FLUSH_WAIT_SECS:-30}"
PERF="${PERF:-0}"
GATEWATCH_GIVEN="${GATEWATCH:-}"

apt_install wrk nginx-light curl procps
case " $TARGETS " in *-tls-handshake*) apt_install apache2-utils ;; esac
[ "$PERF" = 1 ] && apt_install linux-perf
ensure_clickhouse
build_gatewatch
require_free_ports "$UPSTREAM_PORT" "$NGINX_PORT" "$GATEWAY_PORT" "$COLLECTOR_PORT" "$NULL_GATEWAY_PORT" "$NULL_COLLECTOR_PORT" "$DASHBOARDS_PORT" "$GATEWAY_ADMIN_PORT" "$NULL_GATEWAY_ADMIN_PORT" "$NGINX_TLS_PORT" "$GATEWAY_TLS_PORT"
bench_init
T="$BENCH_TMP"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

# ------------------------------------------------------------------------------------------
# The upstream: its own nginx instance, a fixed 49-byte JSON body for any path.
BODY='{"ok":true,"msg":"hello from the bench upstream"}'
nginx_common() { # NAME WORKERS
  cat <<EOF
worker_processes $2;
pid $T/$1.pid;
error_log $T/$1-error.log warn;
events { worker_connections 4096; }
EOF
}
nginx_temp_paths() { # NAME
  local d="$T/$1-tmp"
  mkdir -p "$d"
  chmod 777 "$d"
  cat <<EOF
  client_body_temp_path $d/client_body;
  proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi;
  uwsgi_temp_path $d/uwsgi;
  scgi_temp_path $d/scgi;
EOF
}

{
  nginx_common upstream "$UPSTREAM_WORKERS"
  echo "http {"
  nginx_temp_paths upstream
  cat <<EOF
  access_log off;
  server {
    listen 127.0.0.1:$UPSTREAM_PORT backlog=4096;
    keepalive_requests 1000000;
    location / {
      default_type application/json;
      return 200 '$BODY';
    }
  }
  # The stub collector of the gatewatch-null target: takes any batch, stores nothing.
  server {
    listen 127.0.0.1:$NULL_COLLECTOR_PORT;
    client_max_body_size 0;
    location / {
      default_type application/json;
      return 200 '{"accepted":0,"rejected":0}';
    }
  }
}
EOF
} >"$T/upstream.conf"

# The nginx proxy, configured as one would run it in front of an API: keep-alive to the
# upstream, HTTP/1.1, and the headers gatewatch also sets (X-Forwarded-*, X-Request-Id), with
# an access log (buffered) so nginx too writes down every call. NAME LISTEN [SERVER LINES]:
# the TLS proxy (nginx-tls*) is the same with `listen … ssl` and the certificate lines, and
# logs the protocol and whether the session was resumed (LOG EXTRA).
nginx_proxy_conf() {
  nginx_common "$1" "$NGINX_WORKERS"
  echo "http {"
  nginx_temp_paths "$1"
  cat <<EOF
  log_format bench '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent '
                   '\$request_time \$upstream_response_time "\$http_user_agent" \$request_id${4:-}';
  upstream bench_upstream {
    server 127.0.0.1:$UPSTREAM_PORT;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen $2 backlog=4096;
    keepalive_requests 1000000;
    access_log $T/$1-access.log bench buffer=64k flush=1s;
${3:-}
    location /bench/ {
      proxy_pass http://bench_upstream/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_set_header X-Request-Id \$request_id;
      add_header X-Request-Id \$request_id always;
    }
  }
}
EOF
}
nginx_proxy_conf proxy "127.0.0.1:$NGINX_PORT" >"$T/proxy.conf"

# gatewatch: collector and gateway as separate processes, as a site would run them.
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

[collector]
listen = "127.0.0.1:$COLLECTOR_PORT"

[dashboards]
listen = "127.0.0.1:$DASHBOARDS_PORT"

[security]
pepper = "bench-pepper-not-a-secret-0123456789"

[[routes]]
prefix = "/bench"
upstreams = ["http://127.0.0.1:$UPSTREAM_PORT"]
strip_prefix = true
name = "bench"
EOF

sed -e "s#^data_dir = .*#data_dir = \"$T/data-null\"#" \
  -e "s#^listen = \"127.0.0.1:$GATEWAY_PORT\"#listen = \"127.0.0.1:$NULL_GATEWAY_PORT\"#" \
  -e "s#^admin_listen = .*#admin_listen = \"127.0.0.1:$NULL_GATEWAY_ADMIN_PORT\"#" \
  -e "s#^collector_url = .*#collector_url = \"http://127.0.0.1:$NULL_COLLECTOR_PORT\"#" \
  "$T/gatewatch.toml" >"$T/gatewatch-null.toml"

# TLS targets: one certificate (a private CA and a server certificate for 127.0.0.1, made by
# gatewatch) served by both proxies, TLS 1.2 and 1.3 on both (the clients agree on 1.3).
TLS_TARGETS=0
case " $TARGETS " in *-tls*) TLS_TARGETS=1 ;; esac
if [ "$TLS_TARGETS" = 1 ]; then
  "$GATEWATCH" cert self-signed --out "$T/tls" --name localhost --name 127.0.0.1 >/dev/null
  # A site's usual settings: a shared session cache, tickets on (nginx's default), so the
  # handshake targets pay what a site would for a client that does not resume.
  nginx_proxy_conf proxy-tls "127.0.0.1:$NGINX_TLS_PORT ssl" "    ssl_certificate $T/tls/cert.pem;
    ssl_certificate_key $T/tls/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:bench_tls:10m;" ' $ssl_protocol $ssl_session_reused' >"$T/proxy-tls.conf"
  cat >>"$T/gatewatch.toml" <<EOF

[gateway.tls]
listen = "127.0.0.1:$GATEWAY_TLS_PORT"
cert_file = "$T/tls/cert.pem"
key_file = "$T/tls/key.pem"
EOF
fi

# wrk prints one machine-readable line at the end.
cat >"$T/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d socket_errors=%d status_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status))
end
EOF

"$NGINX" -t -q -p "$T" -c "$T/upstream.conf"
"$NGINX" -t -q -p "$T" -c "$T/proxy.conf"
[ "$TLS_TARGETS" = 1 ] && "$NGINX" -t -q -p "$T" -c "$T/proxy-tls.conf"
bench_start upstream "$NGINX" -p "$T" -c "$T/upstream.conf" -g "daemon off;"
UPSTREAM_PID=$LAST_PID
wait_http "http://127.0.0.1:$UPSTREAM_PORT/hello" 10 "$UPSTREAM_PID"

# ------------------------------------------------------------------------------------------
declare -A PROXY_SIDE URL RPS P50 P99 REQS ERRS CPU_BUSY CPU_STEAL CPU_SERVERS CPU_DETAIL RESUMED
URL[direct]="http://127.0.0.1:$UPSTREAM_PORT/hello"
URL[nginx]="http://127.0.0.1:$NGINX_PORT/bench/hello"
URL[gatewatch]="http://127.0.0.1:$GATEWAY_PORT/bench/hello"
URL[gatewatch-null]="http://127.0.0.1:$NULL_GATEWAY_PORT/bench/hello"
URL[gatewatch-secure]="http://127.0.0.1:$GATEWAY_PORT/secure/hello?token=abc&page=2"
URL[gatewatch-capture]="http://127.0.0.1:$GATEWAY_PORT/capture/hello?token=abc&page=2"
URL[nginx-tls]="https://127.0.0.1:$NGINX_TLS_PORT/bench/hello"
URL[gatewatch-tls]="https://127.0.0.1:$GATEWAY_TLS_PORT/bench/hello"
URL[nginx-tls-handshake]=${URL[nginx-tls]}
URL[gatewatch-tls-handshake]=${URL[gatewatch-tls]}
# The load tool of each target (wrk unless named here).
declare -A LOAD
LOAD[nginx-tls-handshake]=ab
LOAD[gatewatch-tls-handshake]=ab
declare -A WRK_HEADER
API_KEY=""
WARM_REQS=0

kv() { # KEY LINE
  sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$2"
}

# server_pids TARGET : the processes whose CPU is counted as that target's proxy side.
server_pids() {
  case $1 in
    direct) : ;;
    nginx) with_children "$PROXY_PID" ;;
    nginx-tls | nginx-tls-handshake) with_children "$PROXY_TLS_PID" ;;
    gatewatch | gatewatch-secure | gatewatch-capture | gatewatch-tls | gatewatch-tls-handshake) echo "$GATEWAY_PID $COLLECTOR_PID $(clickhouse_pid)" ;;
    gatewatch-null) echo "$NULL_GATEWAY_PID" ;;
  esac
}

run_wrk() { # TARGET SECONDS → the BENCH line; wrk's CPU ticks go to $T/wrk-TARGET-SECONDSs.cpu
  # The wrapper shell reaps wrk, so its own cutime + cstime are wrk's CPU.
  local hdr=()
  [ -n "${WRK_HEADER[$1]:-}" ] && hdr=(-H "${WRK_HEADER[$1]}")
  sh -c 'wrk "$@"; sed "s/^.*) //" /proc/$$/stat | awk "{print \$14 + \$15}" >"$0"' "$T/wrk-$1-$2s.cpu" \
    "${hdr[@]}" -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${2}s" --timeout 5s --latency \
    -s "$T/report.lua" "${URL[$1]}" >"$T/wrk-$1-$2s.txt" 2>&1
  grep '^BENCH ' "$T/wrk-$1-$2s.txt"
}

# ab (the handshake targets): AB_PROCS processes of -c AB_CONNECTIONS for SECONDS, every request
# on a new connection; the same BENCH line as run_wrk. Percentiles: each process's (ab -e, in
# ms with µs decimals), averaged over the processes (they run the same load side by side).
run_ab() { # TARGET SECONDS
  local out="$T/ab-$1-$2s"
  sh -c 'n=$1; shift; for i in $(seq 1 "$n"); do ab -e "$0.$i.csv" "$@" >"$0.$i.txt" 2>&1 & done; wait
         sed "s/^.*) //" /proc/$$/stat | awk "{print \$14 + \$15}" >"$0.cpu"' "$out" "$AB_PROCS" \
    -r -q -c "$AB_CONNECTIONS" -t "$2" -n 100000000 -s 5 "${URL[$1]}"
  local i reqs=0 failed=0 non2xx=0 secs=0 f
  for i in $(seq 1 "$AB_PROCS"); do
    f="$out.$i.txt"
    if ! grep -q '^Complete requests:' "$f"; then
      echo "ab failed for $1:" >&2
      tail -5 "$f" >&2
      exit 1
    fi
    reqs=$((reqs + $(awk '/^Complete requests:/ {print $3}' "$f")))
    failed=$((failed + $(awk '/^Failed requests:/ {print $3}' "$f")))
    non2xx=$((non2xx + $(awk '/^Non-2xx responses:/ {n = $3} END {print n + 0}' "$f")))
    secs=$(awk -v a="$secs" '/^Time taken for tests:/ {print ($5 > a) ? $5 : a}' "$f")
  done
  cp "$out.cpu" "$T/wrk-$1-$2s.cpu"
  pct() { # PERCENT → µs, the mean over the processes
    awk -F, -v p="$1" '$1 == p {s += $2; n++} END {printf "%d", n ? s / n * 1000 : 0}' "$out".*.csv
  }
  echo "BENCH requests=$reqs duration_us=$(awk -v s="$secs" 'BEGIN {printf "%d", s * 1e6}') p50_us=$(pct 50) p99_us=$(pct 99) max_us=$(pct 100) socket_errors=$failed status_errors=$non2xx"
}

run_load() { # TARGET SECONDS
  case ${LOAD[$1]:-wrk} in
    ab) run_ab "$1" "$2" ;;
    *) run_wrk "$1" "$2" ;;
  esac
}

measure() { # TARGET
  local t=$1
  local tool="wrk -t$WRK_THREADS -c$WRK_CONNECTIONS"
  [ "${LOAD[$t]:-wrk}" = ab ] && tool="$AB_PROCS × ab -c $AB_CONNECTIONS (a new connection per request)"
  log "$t: warm-up ${WARMUP_SECS}s, then ${DURATION_SECS}s with $tool (${URL[$t]})"
  if [ "$WARMUP_SECS" -gt 0 ]; then
    local w
    w=$(run_load "$t" "$WARMUP_SECS")
    case $t in gatewatch*) [ "$t" = gatewatch-null ] || WARM_REQS=$((WARM_REQS + $(kv requests "$w"))) ;; esac
  fi
  local upstream_pids servers m0 m1 u0 u1 s0 s1
  upstream_pids=$(with_children "$UPSTREAM_PID")
  servers=$(server_pids "$t")
  PROXY_SIDE[$t]=$(echo $servers | tr ' ' ',')
  m0=$(machine_ticks)
  u0=$(cpu_ticks $upstream_pids)
  # shellcheck disable=SC2086
  s0=$(cpu_ticks $servers)
  declare -A per0
  for p in $servers; do per0[$p]=$(cpu_ticks "$p"); done
  local line perf_pid=""
  if [ "$PERF" = 1 ]; then
    bench_start "perf-$t" perf record -a -e cpu-clock -F 499 -o "$T/perf-$t.data"
    perf_pid=$LAST_PID
  fi
  line=$(run_load "$t" "$DURATION_SECS")
  if [ -n "$perf_pid" ]; then
    bench_stop "$perf_pid" INT
  fi
  m1=$(machine_ticks)
  u1=$(cpu_ticks $upstream_pids)
  # shellcheck disable=SC2086
  s1=$(cpu_ticks $servers)
  local req dur
  req=$(kv requests "$line")
  dur=$(kv duration_us "$line")
  REQS[$t]=$req
  RPS[$t]=$(awk -v r="$req" -v d="$dur" 'BEGIN {printf "%.0f", r / (d / 1e6)}')
  P50[$t]=$(awk -v u="$(kv p50_us "$line")" 'BEGIN {printf "%.3f", u / 1000}')
  P99[$t]=$(awk -v u="$(kv p99_us "$line")" 'BEGIN {printf "%.3f", u / 1000}')
  ERRS[$t]=$(($(kv socket_errors "$line") + $(kv status_errors "$line")))
  read -r b0 st0 tot0 <<<"$m0"
  read -r b1 st1 tot1 <<<"$m1"
  CPU_BUSY[$t]=$(awk -v b=$((b1 - b0)) -v t=$((tot1 - tot0)) 'BEGIN {printf "%.0f", 100 * b / t}')
  CPU_STEAL[$t]=$(awk -v s=$((st1 - st0)) -v t=$((tot1 - tot0)) 'BEGIN {printf "%.1f", 100 * s / t}')
  # CPU of the proxy side per request, in microseconds (all cores added up).
  CPU_SERVERS[$t]=$(awk -v s=$((s1 - s0)) -v r="$req" -v hz="$CLK_TCK" 'BEGIN {printf "%.1f", r ? s / hz * 1e6 / r : 0}')
  # Each process's share of one core over the run, added up by role.
  local detail="upstream $(awk -v s=$((u1 - u0)) -v d="$DURATION_SECS" -v hz="$CLK_TCK" 'BEGIN {printf "%.0f%%", 100 * s / hz / d}')"
  declare -A by_role=()
  local roles=() name
  for p in $servers; do
    case $p in
      "$GATEWAY_PID" | "$NULL_GATEWAY_PID") name=gateway ;;
      "$COLLECTOR_PID") name=collector ;;
      "$PROXY_PID" | "$PROXY_TLS_PID") name=nginx ;;
      *) name=$(tr -d '\0' <"/proc/$p/comm" 2>/dev/null || echo "$p") ;;
    esac
    if [ -z "${by_role[$name]:-}" ]; then
      roles+=("$name")
      by_role[$name]=0
    fi
    by_role[$name]=$((by_role[$name] + $(cpu_ticks "$p") - per0[$p]))
  done
  for name in "${roles[@]}"; do
    detail+=", $name $(awk -v s="${by_role[$name]}" -v d="$DURATION_SECS" -v hz="$CLK_TCK" 'BEGIN {printf "%.0f%%", 100 * s / hz / d}')"
  done
  # What no process of the benchmark used: other processes and kernel threads (noise).
  local wrk_ticks others
  wrk_ticks=$(cat "$T/wrk-$t-${DURATION_SECS}s.cpu" 2>/dev/null || echo 0)
  others=$((b1 - b0 - wrk_ticks - (u1 - u0) - (s1 - s0)))
  detail+=", ${LOAD[$t]:-wrk} $(awk -v s="$wrk_ticks" -v d="$DURATION_SECS" -v hz="$CLK_TCK" 'BEGIN {printf "%.0f%%", 100 * s / hz / d}')"
  detail+=", other $(awk -v s="$others" -v d="$DURATION_SECS" -v hz="$CLK_TCK" 'BEGIN {printf "%.0f%%", 100 * s / hz / d}')"
  CPU_DETAIL[$t]="$detail"
}

# Registers the secure API, a client with limits, its group and a key through the admin API
# (a dashboards process started for the purpose and stopped before measuring); sets API_KEY.
register_secure_api() {
  local A="http://127.0.0.1:$DASHBOARDS_PORT/api/v1" pw="bench-password-0123456789"
  echo "$pw" | "$GATEWATCH" --config "$T/gatewatch.toml" --log warn user add bench --role admin --password-stdin >/dev/null
  bench_start dashboards "$GATEWATCH" --config "$T/gatewatch.toml" dashboards
  local dash_pid=$LAST_PID
  wait_http "http://127.0.0.1:$DASHBOARDS_PORT/healthz" 30 "$dash_pid"
  local csrf
  csrf=$(curl -sf -c "$T/jar" -H 'content-type: application/json' \
    -d "{\"user\":\"bench\",\"password\":\"$pw\"}" "$A/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf_token"])')
  local H=(-sf -b "$T/jar" -H "X-CSRF-Token: $csrf" -H 'content-type: application/json')
  local capture
  for capture in none headers; do
    local id=bench-secure prefix=/secure
    [ "$capture" = headers ] && id=bench-capture && prefix=/capture
    curl "${H[@]}" -d "{\"id\":\"$id\",\"name\":\"$id\",\"prefix\":\"$prefix\",\"strip_prefix\":true,
      \"upstreams\":[\"http://127.0.0.1:$UPSTREAM_PORT\"],\"auth\":[\"api_key\"],\"capture\":{\"mode\":\"$capture\"},
      \"masking\":{\"query_params\":[\"page_token\"]}}" "$A/apis" >/dev/null
  done
  curl "${H[@]}" -d '{"id":"bench","name":"bench group","apis":["bench-*"]}' "$A/groups" >/dev/null
  curl "${H[@]}" -d '{"id":"bench-client","name":"bench client","groups":["bench"],
    "tps":{"per_second":1000000,"burst":1000000},"quota":{"per_day":1000000000}}' "$A/clients" >/dev/null
  API_KEY=$(curl "${H[@]}" -d '{}' "$A/clients/bench-client/keys" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
  bench_stop "$dash_pid"
  WRK_HEADER[gatewatch-secure]="X-API-Key: $API_KEY"
  WRK_HEADER[gatewatch-capture]="X-API-Key: $API_KEY"
  # The gateway polls the configuration log every second.
  for _ in $(seq 1 50); do
    if curl -sf -o /dev/null -H "X-API-Key: $API_KEY" "${URL[gatewatch-secure]}" &&
      curl -sf -o /dev/null -H "X-API-Key: $API_KEY" "${URL[gatewatch-capture]}"; then return 0; fi
    sleep 0.2
  done
  echo "the secure API did not become reachable with its key" >&2
  exit 1
}

# The gatewatch targets' collector and gateway (a fresh database), started once.
start_gatewatch() {
  [ -z "$GATEWAY_PID" ] || return 0
  log "dropping and migrating database $BENCH_DB"
  ch "DROP DATABASE IF EXISTS $BENCH_DB" >/dev/null
  "$GATEWATCH" --config "$T/gatewatch.toml" --log warn migrate >/dev/null
  bench_start collector "$GATEWATCH" --config "$T/gatewatch.toml" collector
  COLLECTOR_PID=$LAST_PID
  wait_http "http://127.0.0.1:$COLLECTOR_PORT/healthz" 30 "$COLLECTOR_PID"
  bench_start gateway "$GATEWATCH" --config "$T/gatewatch.toml" gateway
  GATEWAY_PID=$LAST_PID
  wait_http "http://127.0.0.1:$GATEWAY_ADMIN_PORT/healthz" 30 "$GATEWAY_PID"
}

# wait_https URL PID : as wait_http, trusting the bench CA.
wait_https() {
  for _ in $(seq 1 100); do
    if curl -sf -o /dev/null --cacert "$T/tls/ca.pem" "$1"; then return 0; fi
    kill -0 "$2" 2>/dev/null || { echo "process $2 exited before $1 answered" >&2; return 1; }
    sleep 0.1
  done
  echo "$1 did not answer within 10s" >&2
  return 1
}

PROXY_PID=""
PROXY_TLS_PID=""
GATEWAY_PID=""
COLLECTOR_PID=""
NULL_GATEWAY_PID=""
for t in $TARGETS; do
  case $t in
    direct) measure direct ;;
    nginx)
      bench_start proxy "$NGINX" -p "$T" -c "$T/proxy.conf" -g "daemon off;"
      PROXY_PID=$LAST_PID
      wait_http "${URL[nginx]}" 10 "$PROXY_PID"
      measure nginx
      bench_stop "$PROXY_PID"
      ;;
    nginx-tls | nginx-tls-handshake)
      bench_start proxy-tls "$NGINX" -p "$T" -c "$T/proxy-tls.conf" -g "daemon off;"
      PROXY_TLS_PID=$LAST_PID
      wait_https "${URL[$t]}" "$PROXY_TLS_PID"
      measure "$t"
      bench_stop "$PROXY_TLS_PID"
      if [ "$t" = nginx-tls-handshake ]; then
        # Buffered log: flushed when nginx stopped. "r" = a resumed session.
        RESUMED[$t]=$(awk '$NF == "r"' "$T/proxy-tls-access.log" | wc -l)
      fi
      : >"$T/proxy-tls-access.log"
      ;;
    gatewatch-tls | gatewatch-tls-handshake)
      start_gatewatch
      wait_https "${URL[$t]}" "$GATEWAY_PID"
      measure "$t"
      ;;
    gatewatch)
      start_gatewatch
      measure gatewatch
      ;;
    gatewatch-secure)
      if [ -z "$GATEWAY_PID" ]; then
        echo "gatewatch-secure runs on the gatewatch target's processes: list gatewatch first in TARGETS" >&2
        exit 2
      fi
      [ -n "$API_KEY" ] || register_secure_api
      measure gatewatch-secure
      ;;
    gatewatch-capture)
      if [ -z "$GATEWAY_PID" ]; then
        echo "gatewatch-capture runs on the gatewatch target's processes: list gatewatch first in TARGETS" >&2
        exit 2
      fi
      [ -n "$API_KEY" ] || register_secure_api
      measure gatewatch-capture
      ;;
    gatewatch-null)
      bench_start gateway-null "$GATEWATCH" --config "$T/gatewatch-null.toml" gateway
      NULL_GATEWAY_PID=$LAST_PID
      wait_http "http://127.0.0.1:$NULL_GATEWAY_ADMIN_PORT/healthz" 30 "$NULL_GATEWAY_PID"
      measure gatewatch-null
      curl -sf "http://127.0.0.1:$NULL_GATEWAY_ADMIN_PORT/metrics" >"$T/gateway-null-metrics.txt" || true
      bench_stop "$NULL_GATEWAY_PID"
      ;;
    *)
      echo "unknown target '$t' in TARGETS (direct, nginx, gatewatch, gatewatch-secure, gatewatch-capture, gatewatch-null, nginx-tls, gatewatch-tls, nginx-tls-handshake, gatewatch-tls-handshake)" >&2
      exit 2
      ;;
  esac
done

# ------------------------------------------------------------------------------------------
# Did the recording keep up? Every call the gateway saw (warm-up included) should be a row.
if [ -n "$GATEWAY_PID" ]; then
  metric_sum() { # NAME-PREFIX → sum of every series of it
    awk -v n="$1" 'index($0, n) == 1 && ($0 ~ /^[a-z_]+(\{[^}]*\})? / ) {s += $NF} END {printf "%d", s}' "$T/gateway-metrics.txt"
  }
  log "waiting for the gateway's records to reach ClickHouse (up to ${FLUSH_WAIT_SECS}s)"
  wait_start=$(date +%s.%N)
  rows=0
  seen=0
  for _ in $(seq 1 $((FLUSH_WAIT_SECS * 4))); do
    curl -sf "http://127.0.0.1:$GATEWAY_ADMIN_PORT/metrics" >"$T/gateway-metrics.txt"
    seen=$(metric_sum gatewatch_gateway_requests_total)
    dropped=$(metric_sum gatewatch_gateway_records_dropped_total)
    rows=$(ch "SELECT count() FROM $BENCH_DB.api_calls")
    if [ "$rows" -ge $((seen - dropped)) ]; then break; fi
    sleep 0.25
  done
  lag=$(awk -v a="$wait_start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  queue_full=$(awk '/^gatewatch_gateway_records_dropped_total\{reason="queue_full"\}/ {print $NF}' "$T/gateway-metrics.txt")
  curl -sf "http://127.0.0.1:$COLLECTOR_PORT/metrics" >"$T/collector-metrics.txt" || true
  by_outcome=$(ch "SELECT outcome, count() FROM $BENCH_DB.api_calls GROUP BY outcome ORDER BY outcome FORMAT TSV" | tr '\t\n' '= ' | sed 's/ $//')
  distinct=$(ch "SELECT uniqExact(call_id) FROM $BENCH_DB.api_calls")
  # (A binary from before the record had tls_version: "?".)
  by_tls=$(ch "SELECT if(tls_version = '', 'plain', tls_version), count() FROM $BENCH_DB.api_calls GROUP BY tls_version ORDER BY tls_version FORMAT TSV" 2>/dev/null | tr '\t\n' '= ' | sed 's/ $//' || echo "?")
  wrk_total=$WARM_REQS
  runs=""
  for g in gatewatch gatewatch-secure gatewatch-capture gatewatch-tls gatewatch-tls-handshake; do
    if [ -n "${REQS[$g]:-}" ]; then
      wrk_total=$((wrk_total + REQS[$g]))
      runs+=" + ${REQS[$g]}"
    fi
  done
  secure_rows=$(ch "SELECT count() FROM $BENCH_DB.api_calls WHERE api_id IN ('bench-secure', 'bench-capture') AND client_id = 'bench-client'")
  leaked=$(ch "SELECT count() FROM $BENCH_DB.api_calls WHERE position(query, 'abc') > 0 OR position(request_headers, 'gwk_') > 0" 2>/dev/null || echo "?")
fi

# ------------------------------------------------------------------------------------------
echo
echo "gatewatch gateway benchmark — $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')${GATEWATCH_GIVEN:+ (binary measured: $GATEWATCH_GIVEN)}"
machine_facts
echo "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS --latency, warm-up ${WARMUP_SECS}s, run ${DURATION_SECS}s per target; upstream and nginx: worker_processes $UPSTREAM_WORKERS / $NGINX_WORKERS"
case " $TARGETS " in *-tls-handshake*) echo "handshake targets: $AB_PROCS × ab -c $AB_CONNECTIONS, a new connection and a full TLS handshake per request" ;; esac
echo
printf '%-24s %12s %10s %10s %8s   %s\n' target "requests/s" "p50 ms" "p99 ms" errors "CPU: machine busy (steal); proxy side per request; split (100% = one core)"
for t in $TARGETS; do
  printf '%-24s %12s %10s %10s %8s   %s%% (%s%%); %s µs/req; %s\n' "$t" "${RPS[$t]}" "${P50[$t]}" "${P99[$t]}" "${ERRS[$t]}" \
    "${CPU_BUSY[$t]}" "${CPU_STEAL[$t]}" "${CPU_SERVERS[$t]}" "${CPU_DETAIL[$t]}"
done
if [ -n "${RPS[nginx]:-}" ] && [ -n "${RPS[gatewatch]:-}" ]; then
  rps_ratio=$(awk -v g="${RPS[gatewatch]}" -v n="${RPS[nginx]}" 'BEGIN {printf "%.2f", g / n}')
  p99_ratio=$(awk -v g="${P99[gatewatch]}" -v n="${P99[nginx]}" 'BEGIN {printf "%.2f", g / n}')
  verdict=$(awk -v r="$rps_ratio" -v p="$p99_ratio" 'BEGIN {print (r >= 1.0 && p <= 1.2) ? "MET" : "NOT MET"}')
  echo
  echo "gatewatch / nginx: requests/s ×$rps_ratio, p99 ×$p99_ratio   (target: requests/s ≥ ×1.00 and p99 ≤ ×1.20: $verdict)"
fi
# TLS: gatewatch against nginx on the same certificate, next to the plain ratio (the goal: the
# same ratio as on plain HTTP).
for pair in "gatewatch-tls nginx-tls keep-alive" "gatewatch-tls-handshake nginx-tls-handshake handshakes"; do
  read -r g n what <<<"$pair"
  if [ -n "${RPS[$g]:-}" ] && [ -n "${RPS[$n]:-}" ]; then
    line="$g / $n ($what): requests/s ×$(awk -v g="${RPS[$g]}" -v n="${RPS[$n]}" 'BEGIN {printf "%.2f", g / n}'), p99 ×$(awk -v g="${P99[$g]}" -v n="${P99[$n]}" 'BEGIN {printf "%.2f", g / n}')"
    [ -n "${rps_ratio:-}" ] && line+="   (plain HTTP in this run: ×$rps_ratio, p99 ×$p99_ratio)"
    echo "$line"
  fi
done
if [ -n "${RESUMED[nginx-tls-handshake]:-}" ]; then
  echo "nginx-tls-handshake: ${RESUMED[nginx-tls-handshake]} resumed sessions in nginx's log (0 = every request a full handshake)"
fi
for s_t in gatewatch-secure gatewatch-capture; do
  if [ -n "${RPS[$s_t]:-}" ] && [ -n "${RPS[gatewatch]:-}" ]; then
    s_rps=$(awk -v g="${RPS[$s_t]}" -v n="${RPS[gatewatch]}" 'BEGIN {printf "%.2f", g / n}')
    s_p99=$(awk -v g="${P99[$s_t]}" -v n="${P99[gatewatch]}" 'BEGIN {printf "%.2f", g / n}')
    s_verdict=$(awk -v r="$s_rps" 'BEGIN {print (r >= 0.90) ? "MET" : "NOT MET"}')
    if [ -n "${RPS[nginx]:-}" ]; then
      echo "$s_t / nginx: requests/s ×$(awk -v g="${RPS[$s_t]}" -v n="${RPS[nginx]}" 'BEGIN {printf "%.2f", g / n}'), p99 ×$(awk -v g="${P99[$s_t]}" -v n="${P99[nginx]}" 'BEGIN {printf "%.2f", g / n}')"
    fi
    echo "$s_t / gatewatch (plain): requests/s ×$s_rps, p99 ×$s_p99   (target: within 10%: $s_verdict)"
  fi
done
if [ -n "$GATEWAY_PID" ]; then
  echo
  echo "recording: the load tools completed $wrk_total requests (warm-ups $WARM_REQS + runs${runs# +}); the gateway counted $seen calls"
  if [ -n "${REQS[gatewatch-secure]:-}${REQS[gatewatch-capture]:-}" ]; then
    echo "           rows of the key-protected APIs with the bench client: $secure_rows; rows holding the raw query token or key: $leaked"
  fi
  echo "           gatewatch_gateway_records_dropped_total: ${dropped} (queue_full ${queue_full:-0})"
  if [ "$TLS_TARGETS" = 1 ]; then echo "           rows by TLS version: ${by_tls:-?}"; fi
  if [ "$rows" -lt $((seen - dropped)) ] || [ "$dropped" -gt 0 ]; then
    echo "           rows in $BENCH_DB.api_calls: $rows ($distinct distinct call ids; $by_outcome) after waiting ${lag}s"
    echo "           RECORDING DID NOT KEEP UP"
  else
    echo "           rows in $BENCH_DB.api_calls: $rows ($distinct distinct call ids; $by_outcome), all in ClickHouse ${lag}s after wrk ended"
    echo "           recording kept up: every call counted by the gateway is a row"
  fi
fi
if [ "$PERF" = 1 ]; then
  for t in $TARGETS; do
    echo
    echo "perf, $t (cpu-clock, all CPUs, measured run): share of samples by thread name"
    perf report -i "$T/perf-$t.data" --stdio --no-children --sort comm 2>/dev/null | grep -E '^ +[0-9]' | head -12 || true
    pid=""
    case $t in
      nginx) pid=${PROXY_SIDE[nginx]} ;;
      gatewatch) pid=$GATEWAY_PID ;;
      gatewatch-null) pid=$NULL_GATEWAY_PID ;;
    esac
    if [ -n "$pid" ]; then
      echo "top symbols of the proxy ($t):"
      perf report -i "$T/perf-$t.data" --stdio --no-children --pid "$pid" --sort dso,sym 2>/dev/null | grep -E '^ +[0-9]' | head -40 || true
    fi
  done
fi
