#!/usr/bin/env bash
# Report latency: every report through the HTTP API of a running `gatewatch dashboards`, side by
# side with the SQL it ran, timed alone with clickhouse-client (the ratio is our overhead:
# HTTP, login check, parameter parsing, row decoding, JSON or the chart).
#
# Untimed: load CALLS calls (10 million) over DAYS days (30) ending now — 50 APIs with Chinese
# names (skewed: a few busy ones), 200 clients, 4 nodes, ~8% errors and refusals, latencies
# per API with a long tail, UUIDv7 call ids whose time is the call's — by INSERT … SELECT FROM
# numbers() in ClickHouse itself, in rounds of a million, into $REPORTS_DB.api_calls, so the
# rollups fill through their materialized views as in production; and a node sample per node
# per minute into node_metrics. A database that already holds CALLS calls is reused
# (RELOAD=1 reloads). The rollups are then merged (OPTIMIZE … FINAL), as time does.
# Then a user and a bearer token (gatewatch user add, login, POST /api/v1/me/tokens).
#
# Timed: each report RUNS times (after one warm-up) with curl; the median. A second dashboards
# reads ClickHouse through ops/bench/ch_record.py, which logs the SQL of each report; that SQL
# is run RUNS times with `clickhouse-client --time` and the medians of a report's queries
# summed. A report that is not built yet shows its HTTP status.
#
#   ops/bench/reports.sh
#   RUNS=9 ops/bench/reports.sh
#   CALLS=1000000 REPORTS_DB=gatewatch_bench_reports_small ops/bench/reports.sh
#   GATEWATCH_BIN=target/debug/gatewatch ops/bench/reports.sh   # skip the release build
#   ONLY='version|7d$' ops/bench/reports.sh                       # only the matching reports
#
# Environment: CALLS (10000000), DAYS (30), ROUND (1000000 rows per INSERT), RUNS (5),
# REPORTS_DB (gatewatch_bench_reports), RELOAD (0), DASH_PORT (18090), REC_DASH_PORT (18096),
# REC_PORT (18124), GATEWATCH_BIN (unset: cargo build --release), KEEP_TMP=1 keeps logs.
# Targets (issue 6): traffic 24 h and 30 d < 100 ms, call by id < 50 ms, top-N over a day < 1 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
. ops/lib/common.sh
. ops/bench/lib.sh

CALLS="${CALLS:-10000000}"
DAYS="${DAYS:-30}"
ROUND="${ROUND:-1000000}"
RUNS="${RUNS:-5}"
# Not lib.sh's BENCH_DB: that one is the ingest benchmarks' scratch database, dropped by them.
REPORTS_DB="${REPORTS_DB:-gatewatch_bench_reports}"
RELOAD="${RELOAD:-0}"
DASH_PORT="${DASH_PORT:-18090}"
REC_DASH_PORT="${REC_DASH_PORT:-18096}"
REC_PORT="${REC_PORT:-18124}"

apt_install python3 curl clickhouse-client
ensure_clickhouse
if [ -n "${GATEWATCH_BIN:-}" ]; then
  GATEWATCH="$(realpath "$GATEWATCH_BIN")"
else
  build_gatewatch
fi
require_free_ports "$DASH_PORT" "$REC_DASH_PORT" "$REC_PORT"
bench_init
T="$BENCH_TMP"
HERE="$(pwd)/ops/bench"

# One pepper for both dashboards, so one token works on both.
PEPPER="bench-pepper-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
write_config() { # FILE PORT CLICKHOUSE_URL DATA_DIR
  cat >"$1" <<EOF
data_dir = "$4"
timezone = "Asia/Taipei"
node = "bench"

[clickhouse]
url = "$3"
database = "$REPORTS_DB"

[dashboards]
listen = "127.0.0.1:$2"

[security]
pepper = "$PEPPER"
EOF
}
write_config "$T/gatewatch.toml" "$DASH_PORT" "$CLICKHOUSE_URL" "$T/data"
write_config "$T/recorded.toml" "$REC_DASH_PORT" "http://127.0.0.1:$REC_PORT" "$T/data-rec"
gw() { "$GATEWATCH" --config "$T/gatewatch.toml" "$@"; }

machine_facts
gw migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log" >&2; exit 1; }

# ---------------------------------------------------------------------------- the data set
have=$(ch "SELECT count() FROM $REPORTS_DB.api_calls")
if [ "$RELOAD" = 1 ] || [ "$have" != "$CALLS" ]; then
  log "loading $CALLS calls over $DAYS days into $REPORTS_DB (had $have)"
  for t in api_calls api_calls_1m api_calls_1h client_api_1h node_metrics; do
    ch "TRUNCATE TABLE $REPORTS_DB.$t"
  done
  outcome_type=$(ch "SELECT type FROM system.columns WHERE database = '$REPORTS_DB' AND table = 'api_calls' AND name = 'outcome' FORMAT TabSeparatedRaw")
  end_s=$(( $(date +%s) / 60 * 60 ))
  span_us=$(( DAYS * 86400 * 1000000 ))
  start_us=$(( end_s * 1000000 - span_us ))
  names="['戶政資料查詢服務','健保卡就醫紀錄查詢','地籍圖資下載','機車行照換發申請','稅務電子申報','勞保投保薪資查詢','公司登記資料','空氣品質即時監測','不動產實價登錄','電子發票載具歸戶']"
  load_started=$(date +%s.%N)
  off=0
  while [ "$off" -lt "$CALLS" ]; do
    n=$(( CALLS - off < ROUND ? CALLS - off : ROUND ))
    # r: outcome draw (per mille); a: API, skewed to the low ids; u: latency draw in (0, 1).
    curl -sS --fail-with-body "$CLICKHOUSE_URL/?max_block_size=$ROUND" --data-binary @- <<EOF
INSERT INTO $REPORTS_DB.api_calls (call_id, request_id, ts, ts_us, node, api_id, api_name, module,
  route, method, path, client_id, app_id, client_ip, user_agent, upstream, status, outcome,
  latency_us, upstream_latency_us, overhead_us, request_bytes, response_bytes, batch_id,
  api_version)
SELECT
  toUUID(concat(substring(th, 1, 8), '-', substring(th, 9, 4), '-7', substring(rh, 2, 3), '-8',
                substring(rh, 5, 3), '-', substring(rh, 8, 12))),
  concat('req-', toString(number)),
  toDateTime(intDiv(tus, 1000000)),
  tus,
  concat('node-', toString(number % 4)),
  concat('api-', toString(a)),
  concat(arrayElement($names, a % 10 + 1), ' ', toString(a)),
  concat('module-', toString(a % 5)),
  concat('/', toString(a)),
  arrayElement(['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'], number % 6 + 1),
  concat('/api-', toString(a), '/items/', toString(number % 1000)),
  concat('client-', toString(c)),
  concat('app-', toString(c % 40)),
  concat('10.1.', toString(c % 250), '.', toString(number % 250)),
  'bench/1.0',
  concat('http://10.0.', toString(a % 8), '.', toString(number % 3 + 1), ':8080'),
  multiIf(r < 920, 200, r < 960, 404, r < 975, 502, r < 985, 504, r < 990, 502, r < 995, 429,
          r < 998, 401, 403),
  CAST(multiIf(r < 920, 'ok', r < 960, 'client_error', r < 975, 'upstream_error', r < 985,
               'timeout', r < 990, 'upstream_unreachable', r < 995, 'refused_rate', r < 998,
               'refused_auth', 'refused_ip') AS $outcome_type),
  lat,
  lat - ovh,
  ovh,
  200 + sipHash64(number, 6) % 2000,
  if(r < 990, 500 + sipHash64(number, 7) % 50000, 120),
  toUUID('00000000-0000-4000-8000-000000000000'),
  concat('v', toString(a % 3 + 1))
FROM
(
  SELECT number, tus, th, rh, a, c, r, ovh,
    if(r < 990, toUInt64(ovh + (10000 + 15000 * (a % 7)) * (0.3 - log(u))), ovh) AS lat
  FROM
  (
    SELECT number,
      toInt64($start_us + number * ($span_us / $CALLS)) AS tus,
      hex(toUInt64(intDiv(tus, 1000))) AS th,
      concat(hex(bitOr(sipHash64(number), 0x8000000000000000)),
             hex(bitOr(sipHash64(number, 8), 0x8000000000000000))) AS rh,
      toUInt32(floor(pow((sipHash64(number, 1) % 1000000) / 1000000, 2) * 50)) AS a,
      sipHash64(number, 2) % 200 AS c,
      sipHash64(number, 3) % 1000 AS r,
      (sipHash64(number, 4) % 1000000 + 1) / 1000001 AS u,
      200 + sipHash64(number, 5) % 800 AS ovh
    FROM numbers($off, $n)
  )
)
EOF
    off=$(( off + n ))
    printf '  %d / %d\n' "$off" "$CALLS" >&2
  done
  load_secs=$(echo "$(date +%s.%N) - $load_started" | bc)
  samples=$(( DAYS * 1440 ))
  ch "INSERT INTO $REPORTS_DB.node_metrics (ts, ts_us, node, role, cpu_pct, mem_used_bytes, mem_total_bytes, rss_bytes, mount, disk_used_bytes, disk_total_bytes, batch_id)
      SELECT toDateTime(t), toInt64(t) * 1000000, concat('node-', toString(k)), 'gateway',
        toFloat32(20 + 60 * abs(sin(t / 7200 + k))), toUInt64(6e9 + 2e9 * abs(sin(t / 9000 + k))),
        16000000000, toUInt64(3e8 + 1e8 * abs(sin(t / 5000 + k))), ['/', '/data'],
        [toUInt64(2e10), toUInt64(1e11 + t % 86400 * 1e4)], [toUInt64(5e10), toUInt64(5e11)],
        toUUID('00000000-0000-4000-8000-000000000000')
      FROM (SELECT $end_s - $DAYS * 86400 + intDiv(number, 4) * 60 AS t, number % 4 AS k
            FROM numbers($(( samples * 4 ))))"
  # The calls must end now: reports over 24 h and call look-ups two days back depend on it.
  ch "SELECT 'calls from', min(ts), 'to', max(ts) FROM $REPORTS_DB.api_calls"
  log "merging the rollups (OPTIMIZE … FINAL)"
  for t in api_calls_1m api_calls_1h client_api_1h; do
    ch "OPTIMIZE TABLE $REPORTS_DB.$t FINAL"
  done
  printf 'loaded %d calls in %.0f s (%.0f calls/s, with the 3 rollup views)\n' \
    "$CALLS" "$load_secs" "$(echo "$CALLS / $load_secs" | bc -l)"
else
  log "reusing $have calls in $REPORTS_DB (RELOAD=1 reloads)"
fi
for t in api_calls api_calls_1m api_calls_1h client_api_1h node_metrics; do
  printf '%-14s %12s rows %6s parts\n' "$t" "$(ch "SELECT count() FROM $REPORTS_DB.$t")" \
    "$(ch "SELECT count() FROM system.parts WHERE database = '$REPORTS_DB' AND table = '$t' AND active")"
done

# ------------------------------------------------------------------ the servers and a token
python3 "$HERE/ch_record.py" "$REC_PORT" "$CLICKHOUSE_URL" "$T/sql.jsonl" &
BENCH_PIDS+=("$!")
bench_start dashboards "$GATEWATCH" --config "$T/gatewatch.toml" dashboards
wait_http "http://127.0.0.1:$DASH_PORT/healthz" 60 "$LAST_PID"
bench_start dashboards-recorded "$GATEWATCH" --config "$T/recorded.toml" dashboards
wait_http "http://127.0.0.1:$REC_DASH_PORT/healthz" 60 "$LAST_PID"

password="bench-$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
user="bench-$(date +%s)"
printf '%s\n' "$password" | gw user add "$user" --role admin --password-stdin >/dev/null
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
base="http://127.0.0.1:$DASH_PORT"
csrf=$(curl -sS --fail-with-body -c "$T/cookies" -H 'content-type: application/json' \
  -d "{\"user\":\"$user\",\"password\":\"$password\"}" "$base/api/v1/login" | json '["csrf_token"]')
TOKEN=$(curl -sS --fail-with-body -b "$T/cookies" -H "x-csrf-token: $csrf" \
  -H 'content-type: application/json' -d '{"name":"bench"}' "$base/api/v1/me/tokens" | json '["secret"]')

# Each dashboards reads users from the configuration log on its own schedule: wait until both
# take the new token, so no timed or recorded request is a 401.
for port in "$DASH_PORT" "$REC_DASH_PORT"; do
  for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $TOKEN" \
      "http://127.0.0.1:$port/api/v1/me")
    [ "$code" = 200 ] && break
    sleep 0.1
  done
  [ "$code" = 200 ] || { echo "dashboards on $port does not take the token ($code)" >&2; exit 1; }
done

# ------------------------------------------------------------------------------ the reports
call_id=$(ch "SELECT call_id FROM $REPORTS_DB.api_calls WHERE ts >= now() - 3 * 86400 AND ts < now() - 2 * 86400 LIMIT 1")
[ -n "$call_id" ] || { echo "no call two days ago in $REPORTS_DB: reload it (RELOAD=1)" >&2; exit 1; }
REPORTS=(
  "traffic 24h|/api/v1/reports/traffic?range=24h"
  "traffic 30d|/api/v1/reports/traffic?range=30d"
  "traffic 24h, one API|/api/v1/reports/traffic?range=24h&api=api-3"
  "traffic 24h chart.png|/api/v1/reports/traffic/chart.png?range=24h"
  "traffic 30d chart.svg|/api/v1/reports/traffic/chart.svg?range=30d"
  "call by id|/api/v1/reports/calls/$call_id"
  "call search by id|/api/v1/reports/calls?call_id=$call_id"
  "call search, client, 24h|/api/v1/reports/calls?range=24h&client=client-7&limit=50"
  "call search, path, 24h|/api/v1/reports/calls?range=24h&path_contains=items/42&limit=50"
  "top 24h|/api/v1/reports/top?range=24h"
  "usage 24h|/api/v1/reports/usage?range=24h"
  "usage 30d|/api/v1/reports/usage?range=30d"
  "usage 30d csv|/api/v1/reports/usage?range=30d&format=csv"
  "latency 24h|/api/v1/reports/latency?range=24h"
  "latency 30d|/api/v1/reports/latency?range=30d"
  "errors 24h|/api/v1/reports/errors?range=24h"
  "errors 30d|/api/v1/reports/errors?range=30d"
  "clients 30d|/api/v1/reports/clients?range=30d"
  "client-apis 30d|/api/v1/reports/client-apis?range=30d"
  "nodes 24h|/api/v1/reports/nodes?range=24h"
  "nodes 30d|/api/v1/reports/nodes?range=30d"
  "client-events 7d|/api/v1/reports/client-events?range=7d&client=client-7"
  # Issue 19: by API version, from the raw calls (the rollups have no version); the same
  # reports per API, from the rollups, above and here for the 7-day comparison.
  "usage 7d|/api/v1/reports/usage?range=7d"
  "usage 7d by version|/api/v1/reports/usage?range=7d&group=version"
  "usage 24h by version|/api/v1/reports/usage?range=24h&group=version"
  "usage 7d, version v2|/api/v1/reports/usage?range=7d&version=v2"
  "latency 7d|/api/v1/reports/latency?range=7d"
  "latency 7d by version|/api/v1/reports/latency?range=7d&group=version"
  "call search, version, 24h|/api/v1/reports/calls?range=24h&version=v2&limit=50"
)
# ONLY='version|usage 7d' times just the reports whose names match (grep -E).
if [ -n "${ONLY:-}" ]; then
  kept=()
  for entry in "${REPORTS[@]}"; do
    if printf '%s' "${entry%%|*}" | grep -Eq -- "$ONLY"; then kept+=("$entry"); fi
  done
  REPORTS=("${kept[@]}")
fi

median() { sort -n | awk '{a[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) printf "%.1f", a[(NR + 1) / 2]; else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# get PORT PATH: "status seconds" of one request.
get() {
  curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' -H "authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$1$2" || echo "000 0"
}

# The SQL of one report: what the recorded dashboards sent while answering it.
sql_of() { # PATH OUTFILE
  local before
  before=$(wc -l <"$T/sql.jsonl" 2>/dev/null || echo 0)
  get "$REC_DASH_PORT" "$1" >/dev/null
  tail -n +"$((before + 1))" "$T/sql.jsonl" >"$2"
}

# ch_time SQL: median of RUNS `clickhouse-client --time` runs, in ms.
ch_time() {
  local i
  for i in $(seq 1 "$RUNS"); do
    clickhouse-client --database "$REPORTS_DB" --format RowBinary --time --query "$1" 2>&1 >/dev/null | tail -n 1 |
      awk '{printf "%.3f\n", $1 * 1000}'
  done | median
}

log "timing ${#REPORTS[@]} requests, $RUNS runs each (plus one warm-up)"
printf '\n| report | request | HTTP status | HTTP median ms | queries | clickhouse-client ms | ratio |\n'
printf '| --- | --- | --- | --- | --- | --- | --- |\n'
n=0
for entry in "${REPORTS[@]}"; do
  name=${entry%%|*}
  path=${entry#*|}
  n=$((n + 1))
  get "$DASH_PORT" "$path" >"$T/warm"
  status=$(cut -d' ' -f1 "$T/warm")
  for _ in $(seq 1 "$RUNS"); do get "$DASH_PORT" "$path"; done >"$T/runs.$n"
  http_ms=$(awk '{printf "%.3f\n", $2 * 1000}' "$T/runs.$n" | median)
  sql_of "$path" "$T/sql.$n"
  queries=0
  ref_total=0
  : >"$T/ref.$n"
  while IFS= read -r line; do
    sql=$(printf '%s' "$line" | json '["sql"]')
    # Only reads: the dashboards' own look-ups (users, sessions) are not the report's.
    case "$sql" in *config_log*|*audit_log*) continue ;; esac
    queries=$((queries + 1))
    ms=$(ch_time "$sql")
    printf '%s ms: %s\n' "$ms" "$(printf '%s' "$sql" | tr '\n' ' ' | cut -c1-300)" >>"$T/ref.$n"
    ref_total=$(echo "$ref_total + $ms" | bc -l)
  done <"$T/sql.$n"
  if [ "$queries" -gt 0 ]; then
    ref=$(printf '%.1f' "$ref_total")
    ratio=$(echo "$http_ms / $ref_total" | bc -l | xargs printf '×%.1f')
  else
    ref="-"
    ratio="-"
  fi
  shown=${path//|/\\|}
  printf '| %s | `%s` | %s | %s | %s | %s | %s |\n' "$name" "${shown/$call_id/<id>}" "$status" \
    "$http_ms" "$queries" "$ref" "$ratio"
done
printf '\nThe SQL behind each reference time (first 300 characters):\n'
for i in $(seq 1 "$n"); do
  entry=${REPORTS[$((i - 1))]}
  [ -s "$T/ref.$i" ] || continue
  printf -- '- %s\n' "${entry%%|*}"
  sed 's/^/    /' "$T/ref.$i"
done
printf '\nload average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
