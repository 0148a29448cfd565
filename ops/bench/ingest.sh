#!/usr/bin/env bash
# Ingest throughput: N call records through `gatewatch collector` into ClickHouse, end to end.
#
# Untimed: generate N realistic CallRecord NDJSON lines (50 APIs, 200 clients, 4 nodes, call
# times spread over the last TS_SPREAD_SECS, a day by default) in batches of BATCH_LINES, each
# compressed with the zstd CLI. Timed: SENDERS
# threads POST the batches (Content-Encoding: zstd, one x-gatewatch-batch-id each) to the
# collector; the clock runs from the first POST until `SELECT count()` of
# $BENCH_DB.api_calls equals N. Prints records/s end to end, the rate at which the collector
# acknowledged the POSTs (i.e. wrote them to its fsynced write-ahead log), and where the CPU
# went. Then, unless BASELINE=0, ClickHouse alone: the same rows inserted in rounds of
# INSERT_MAX_ROWS (Native format, over HTTP) into the schema with its materialized views and
# into a bare copy of api_calls, for the ceiling on this machine.
#
#   ops/bench/ingest.sh
#   RECORDS=500000 INSERT_MAX_ROWS=500000 INSERT_PERIOD_MS=200 ops/bench/ingest.sh
#   PERF=1 ops/bench/ingest.sh      # also a system-wide perf profile of the timed part
#
# Environment: RECORDS (2000000), BATCH_LINES (10000), SENDERS (4), ZSTD_LEVEL (3),
# TS_SPREAD_SECS (86400; e.g. 60 for records as a live gateway ships them, seconds old),
# INSERT_MAX_ROWS / INSERT_PERIOD_MS / MAX_BODY_MB / WAL_MAX_MB (collector knobs; unset = the
# collector's defaults), COLLECTOR_PORT (18091), BENCH_DB (gatewatch_bench),
# DEADLINE_SECS (600), BASELINE (1), PERF (0), BODIES_DIR (unset: bodies are made in the
# temp dir each run; set: made there once and reused), KEEP_TMP=1 keeps logs and the profile.
set -euo pipefail
cd "$(dirname "$0")/../.."
. ops/lib/common.sh
. ops/bench/lib.sh

RECORDS="${RECORDS:-2000000}"
BATCH_LINES="${BATCH_LINES:-10000}"
SENDERS="${SENDERS:-4}"
ZSTD_LEVEL="${ZSTD_LEVEL:-3}"
TS_SPREAD_SECS="${TS_SPREAD_SECS:-86400}"
COLLECTOR_PORT="${COLLECTOR_PORT:-18091}"
DEADLINE_SECS="${DEADLINE_SECS:-600}"
BASELINE="${BASELINE:-1}"
PERF="${PERF:-0}"

apt_install zstd python3 curl procps
[ "$PERF" = 1 ] && apt_install linux-perf
ensure_clickhouse
build_gatewatch
require_free_ports "$COLLECTOR_PORT"
bench_init
T="$BENCH_TMP"
HERE="$(pwd)/ops/bench"

collector_knobs=""
for knob in insert_max_rows:INSERT_MAX_ROWS insert_period_ms:INSERT_PERIOD_MS max_body_mb:MAX_BODY_MB wal_max_mb:WAL_MAX_MB; do
  key=${knob%%:*}
  var=${knob#*:}
  if [ -n "${!var:-}" ]; then collector_knobs+="$key = ${!var}"$'\n'; fi
done
# The collector takes records only with its ingest token; the senders send this one.
export GATEWATCH_INGEST_TOKEN="bench-ingest-token-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
cat >"$T/gatewatch.toml" <<EOF
data_dir = "$T/data"
node = "bench"

[clickhouse]
url = "$CLICKHOUSE_URL"
database = "$BENCH_DB"

[security]
ingest_token = "$GATEWATCH_INGEST_TOKEN"

[collector]
listen = "127.0.0.1:$COLLECTOR_PORT"
# Bodies kept in BODIES_DIR may be older than the default 7 days.
max_record_age = "3650d"
$collector_knobs
EOF

# BODIES_DIR: keep the generated bodies there and reuse them on the next run with the same
# RECORDS, BATCH_LINES, ZSTD_LEVEL and TS_SPREAD_SECS (the database and the log are fresh each
# run, so the same call ids are new to them).
BODIES="${BODIES_DIR:-$T/bodies}"
stamp="$RECORDS $BATCH_LINES $ZSTD_LEVEL $TS_SPREAD_SECS"
if [ -n "${BODIES_DIR:-}" ] && [ -f "$BODIES/stamp" ] && [ "$(head -1 "$BODIES/stamp")" = "$stamp" ]; then
  read -r _ raw_bytes zst_bytes < <(tail -1 "$BODIES/stamp")
  log "reusing the bodies in $BODIES ($stamp)"
else
  if [ -d "$BODIES" ] && [ ! -f "$BODIES/stamp" ] && [ -n "$(ls -A "$BODIES")" ]; then
    echo "BODIES_DIR $BODIES is not empty and holds no bodies made by this script" >&2
    exit 1
  fi
  # Bodies of other settings: only our own files go.
  if [ -d "$BODIES" ]; then
    find "$BODIES" -maxdepth 1 -name '*.zst' -delete
    rm -f "$BODIES/stamp"
  fi
  log "generating $RECORDS records in batches of $BATCH_LINES (zstd -$ZSTD_LEVEL), untimed"
  gen_start=$(date +%s)
  read -r _ raw_bytes zst_bytes < <(python3 "$HERE/ingest_records.py" generate "$BODIES" "$RECORDS" "$BATCH_LINES" "$ZSTD_LEVEL" "$TS_SPREAD_SECS")
  printf '%s\n%s %s %s\n' "$stamp" "$RECORDS" "$raw_bytes" "$zst_bytes" >"$BODIES/stamp"
  log "generated in $(($(date +%s) - gen_start))s: $((raw_bytes >> 20)) MiB of NDJSON, $((zst_bytes >> 20)) MiB compressed"
fi

log "dropping and migrating database $BENCH_DB"
ch "DROP DATABASE IF EXISTS $BENCH_DB" >/dev/null
"$GATEWATCH" --config "$T/gatewatch.toml" --log warn migrate >/dev/null
bench_start collector "$GATEWATCH" --config "$T/gatewatch.toml" collector
COLLECTOR_PID=$LAST_PID
wait_http "http://127.0.0.1:$COLLECTOR_PORT/healthz" 30 "$COLLECTOR_PID"
CH_PID=$(clickhouse_pid)
sync
sleep 1

ch_events() {
  ch "SELECT event, value FROM system.events WHERE event IN ('InsertQuery','InsertedRows','SelectQuery','MergedRows') FORMAT TSV"
}
ch_events >"$T/ch-events-0.tsv"
m0=$(machine_ticks)
c0=$(cpu_ticks "$COLLECTOR_PID")
k0=$(cpu_ticks "$CH_PID")
if [ "$PERF" = 1 ]; then
  bench_start perf perf record -a -e cpu-clock -F 499 -o "$T/perf.data"
  PERF_PID=$LAST_PID
  sleep 0.5
fi

log "sending: $SENDERS senders → http://127.0.0.1:$COLLECTOR_PORT/v1/records"
# The wrapper shell reaps the sender, so its cutime + cstime are the sender's CPU.
sh -c 'python3 "$@"; sed "s/^.*) //" /proc/$$/stat | awk "{print \$14 + \$15}" >"$0"' "$T/send.cpu" \
  "$HERE/ingest_records.py" send "$BODIES" "http://127.0.0.1:$COLLECTOR_PORT/v1/records" \
  "$SENDERS" "$CLICKHOUSE_URL" "$BENCH_DB" "$RECORDS" "$DEADLINE_SECS" >"$T/send.json"

m1=$(machine_ticks)
c1=$(cpu_ticks "$COLLECTOR_PID")
k1=$(cpu_ticks "$CH_PID")
ch_events >"$T/ch-events-1.tsv"
if [ "$PERF" = 1 ]; then
  bench_stop "$PERF_PID" INT
fi
curl -sf "http://127.0.0.1:$COLLECTOR_PORT/metrics" >"$T/collector-metrics.txt" || true

j() { python3 -c "import json,sys; d=json.load(open('$T/send.json')); print($1)"; }
errors=$(j "'; '.join(d['errors'])")
rows=$(j "d['rows']")
e2e=$(j "d['end_to_end_secs']")
ack=$(j "d['ack_secs']")
distinct=$(ch "SELECT uniqExact(call_id) FROM $BENCH_DB.api_calls")
metric() { awk -v n="$1" '$1 == n {print $NF}' "$T/collector-metrics.txt"; }
inserts=$(metric gatewatch_collector_inserts_total)
parts=$(ch "SELECT count() FROM system.parts WHERE database = '$BENCH_DB' AND table = 'api_calls' AND active")
ev_delta() { # EVENT
  awk -F'\t' -v e="$1" 'FNR == NR {a[$1] = $2; next} $1 == e {print $2 - a[$1]}' "$T/ch-events-0.tsv" "$T/ch-events-1.tsv"
}
read -r b0 st0 tot0 <<<"$m0"
read -r b1 st1 tot1 <<<"$m1"
send_ticks=$(cat "$T/send.cpu" 2>/dev/null || echo 0)
secs=$(awk -v t=$((tot1 - tot0)) -v n="$(nproc)" -v hz="$CLK_TCK" 'BEGIN {print t / n / hz}')
pct_of_core() { awk -v x="$1" -v s="$secs" -v hz="$CLK_TCK" 'BEGIN {printf "%.0f%%", 100 * x / hz / s}'; }

# ------------------------------------------------------------------------------------------
# ClickHouse alone, for comparison: the same rows in rounds of the collector's size.
if [ "$BASELINE" = 1 ] && [ "$rows" -eq "$RECORDS" ]; then
  round=${INSERT_MAX_ROWS:-200000}
  log "baseline: ClickHouse alone, $RECORDS rows in rounds of $round (Native over HTTP)"
  base_db="${BENCH_DB}_ch"
  ch "DROP DATABASE IF EXISTS $base_db" >/dev/null
  "$GATEWATCH" --config "$T/gatewatch.toml" --clickhouse-database "$base_db" --log warn migrate >/dev/null
  ch "CREATE TABLE $base_db.bare AS $BENCH_DB.api_calls" >/dev/null
  mkdir -p "$T/native"
  chunks=$(((RECORDS + round - 1) / round))
  for ((i = 0; i < chunks; i++)); do
    ch "SELECT * FROM $BENCH_DB.api_calls WHERE cityHash64(toString(call_id)) % $chunks = $i FORMAT Native" >"$T/native/$(printf %05d "$i")"
  done
  insert_all() { # TABLE → seconds
    local s e f
    s=$(date +%s.%N)
    for f in "$T"/native/*; do
      curl -sS --fail-with-body "$CLICKHOUSE_URL/?query=INSERT%20INTO%20$base_db.$1%20FORMAT%20Native" --data-binary "@$f" >/dev/null
    done
    e=$(date +%s.%N)
    awk -v a="$s" -v b="$e" 'BEGIN {printf "%.2f", b - a}'
  }
  base_mv=$(insert_all api_calls)
  base_bare=$(insert_all bare)
  ch "DROP DATABASE IF EXISTS $base_db" >/dev/null
fi

# ------------------------------------------------------------------------------------------
echo
echo "gatewatch ingest benchmark — $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
machine_facts
echo "records: $RECORDS in $(j "d['batches']") batches of $BATCH_LINES lines, call times over the last ${TS_SPREAD_SECS}s; $((raw_bytes >> 20)) MiB NDJSON ($((raw_bytes / RECORDS)) B/record), $((zst_bytes >> 20)) MiB zstd -$ZSTD_LEVEL; $SENDERS senders"
echo "collector: ${collector_knobs:-defaults}" | tr '\n' ' '
echo
echo
if [ -n "$errors" ]; then echo "ERRORS: $errors"; fi
if [ "$rows" -ne "$RECORDS" ]; then echo "INCOMPLETE: $rows of $RECORDS rows after ${e2e}s"; fi
awk -v n="$RECORDS" -v e="$e2e" -v a="$ack" -v zb="$zst_bytes" -v rb="$raw_bytes" 'BEGIN {
  printf "end to end (first POST → count() = N): %8.0f records/s  (%.2f s)\n", n / e, e
  printf "collector acknowledged the POSTs:      %8.0f records/s  (%.2f s; %.1f MB/s compressed, %.1f MB/s NDJSON)\n", n / a, a, zb / a / 1e6, rb / a / 1e6
}'
echo "  POST latency p50 $(j "d['post_ms_p50']") ms, p99 $(j "d['post_ms_p99']") ms; 503 retries: $(j "d['retries_503']"); rows in ClickHouse when the last POST was answered: $(j "d['rows_at_last_ack']")"
echo "  rows: $rows ($distinct distinct call ids); collector insert rounds finished: ${inserts:-0}; active parts of api_calls: $parts"
echo "  CPU over the timed part (${secs}s wall, 100% = one core): machine busy $(awk -v b=$((b1 - b0)) -v t=$((tot1 - tot0)) 'BEGIN {printf "%.0f%%", 100 * b / t}') of $(nproc) cores, steal $(awk -v s=$((st1 - st0)) -v t=$((tot1 - tot0)) 'BEGIN {printf "%.1f%%", 100 * s / t}'); collector $(pct_of_core $((c1 - c0))), clickhouse-server $(pct_of_core $((k1 - k0))), senders $(pct_of_core "$send_ticks"), other $(pct_of_core $((b1 - b0 - (c1 - c0) - (k1 - k0) - send_ticks)))"
echo "  ClickHouse during it: $(ev_delta InsertQuery) INSERT queries, $(ev_delta InsertedRows) rows inserted (InsertedRows), $(ev_delta SelectQuery) SELECTs, $(ev_delta MergedRows) rows merged"
python3 - "$T/send.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
tl = d["timeline"]
if tl:
    step = max(1, len(tl) // 12)
    pts = tl[::step]
    if pts[-1] != tl[-1]:
        pts.append(tl[-1])
    print("  rows in ClickHouse over time: " + ", ".join(f"{t:.1f}s {r}" for t, r in pts))
EOF
if [ -n "${base_mv:-}" ]; then
  awk -v n="$RECORDS" -v r="${INSERT_MAX_ROWS:-200000}" -v mv="$base_mv" -v bare="$base_bare" 'BEGIN {
    printf "ClickHouse alone, rounds of %d rows (Native over HTTP, one after another):\n", r
    printf "  into api_calls with its 3 materialized views: %8.0f rows/s (%.2f s)\n", n / mv, mv
    printf "  into a bare copy of api_calls, no views:      %8.0f rows/s (%.2f s)\n", n / bare, bare
  }'
fi
if [ "$PERF" = 1 ]; then
  echo
  echo "perf (cpu-clock, all CPUs, timed part):"
  perf script -i "$T/perf.data" -F comm,pid,tid,ip,sym,dso 2>/dev/null >"$T/perf.txt" || true
  python3 "$HERE/ingest_records.py" perf-summary "$T/perf.txt" "$COLLECTOR_PID" "$CH_PID"
fi
