#!/usr/bin/env bash
# Ingest into the ClickHouse cluster of ops/cluster/ (2 shards × 2 replicas, 18.16), both ways,
# side by side:
#   (a) `gatewatch collector` with `[collector] cluster_insert = "distributed"`: each round into
#       the Distributed table `api_calls`, insert_distributed_sync = 1;
#   (b) `gatewatch collector` with `cluster_insert = "shards"` (the default): the collector splits
#       each round by shard (sipHash64(toString(call_id)) over the shard weights) and inserts
#       into one replica's `api_calls_local` per shard, both shards at once; replication copies.
# and ClickHouse alone, the same rows as Native files over HTTP (no collector):
#   (r1) into each shard's api_calls_local, both shards at once (the reference for (b));
#   (r2) into api_calls (Distributed), insert_distributed_sync = 1 (the reference for (a));
#   (r3) into one shard's api_calls_local only: what one shard takes (rows/s per shard).
# Also shows that the default insert_distributed_sync = 0 answers before the shards have the
# rows (rows on the shards right after the INSERT answered, vs rows sent).
#
# Records go through the real collector (POST /v1/records with its ingest token, WAL, inserter):
# the time runs from the first POST until count() of api_calls (through Distributed) = N. Every
# process is on loopback; the run is bounded by DEADLINE_SECS per way.
#
#   ops/cluster/up.sh && ops/bench/cluster_ingest.sh
#   RECORDS=400000 ops/bench/cluster_ingest.sh
#
# Environment: RECORDS (200000), BATCH_LINES (5000), SENDERS (2), TS_SPREAD_SECS (60: a live
# gateway's records, seconds old), BENCH_DB (ingest_bench), COLLECTOR_PORT (18391),
# DEADLINE_SECS (300), GATEWATCH (a built binary; else a release build), KEEP_TMP=1.
# TABLES=migrate (default: `gatewatch migrate` with [clickhouse] cluster, the schema of
# migrations/) or TABLES=hand (api_calls_local/api_calls/ingest_batches made here from the
# single-server api_calls, without the rollup views: for measuring before the cluster
# migrations exist).
set -euo pipefail
cd "$(dirname "$0")/../.."
. ops/lib/common.sh
. ops/bench/lib.sh

RECORDS="${RECORDS:-200000}"
BATCH_LINES="${BATCH_LINES:-5000}"
SENDERS="${SENDERS:-2}"
TS_SPREAD_SECS="${TS_SPREAD_SECS:-60}"
BENCH_DB="${BENCH_DB:-ingest_bench}"
COLLECTOR_PORT="${COLLECTOR_PORT:-18391}"
DEADLINE_SECS="${DEADLINE_SECS:-300}"
TABLES="${TABLES:-migrate}"
CLUSTER=gatewatch
PORTS=(18223 18224 18225 18226) # ch1 ch2 (shard 1), ch3 ch4 (shard 2)
URLS=()
for p in "${PORTS[@]}"; do URLS+=("http://127.0.0.1:$p"); done
CLICKHOUSE_URL="${URLS[0]}"

apt_install zstd python3 curl
ops/cluster/up.sh >/dev/null
build_gatewatch
require_free_ports "$COLLECTOR_PORT"
bench_init
T="$BENCH_TMP"
HERE="$(pwd)/ops/bench"

on() { # PORT QUERY [URL-PARAMS]
  curl -sS --fail-with-body "http://127.0.0.1:$1/?${3:-}" --data-binary "$2"
}
everywhere() { # QUERY
  local p
  for p in "${PORTS[@]}"; do on "$p" "$1" >/dev/null; done
}

export GATEWATCH_INGEST_TOKEN="bench-ingest-token-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
write_config() { # MODE
  local urls
  urls=$(printf '"%s", ' "${URLS[@]}")
  cat >"$T/gatewatch.toml" <<EOF
data_dir = "$T/data-$1"
node = "bench"

[clickhouse]
url = "${URLS[0]}"
urls = [${urls%, }]
database = "$BENCH_DB"
cluster = "$CLUSTER"

[security]
ingest_token = "$GATEWATCH_INGEST_TOKEN"

[collector]
listen = "127.0.0.1:$COLLECTOR_PORT"
cluster_insert = "$1"
EOF
}

# Replicas keep a table's ZooKeeper path after DROP TABLE for a while on 18.16: a new path each
# run (the database name carries a suffix) keeps runs apart.
drop_db() {
  local p
  for p in "${PORTS[@]}"; do on "$p" "DROP DATABASE IF EXISTS $BENCH_DB" >/dev/null || true; done
}

make_tables() {
  drop_db
  if [ "$TABLES" = migrate ]; then
    "$GATEWATCH" --config "$T/gatewatch.toml" --log warn migrate >/dev/null
    if ! on 18223 "EXISTS TABLE $BENCH_DB.api_calls_local" | grep -q 1; then
      echo "gatewatch migrate made no api_calls_local (cluster migrations not there yet?); run with TABLES=hand" >&2
      exit 1
    fi
    return
  fi
  # By hand: the single-server api_calls of this binary's migrations, as the cluster layout.
  local plain="${BENCH_DB}_plain" cols
  on 18223 "DROP DATABASE IF EXISTS $plain" >/dev/null
  sed -e "s/^cluster = .*//" -e "s/^urls = .*//" -e "s/^database = .*/database = \"$plain\"/" "$T/gatewatch.toml" >"$T/plain.toml"
  "$GATEWATCH" --config "$T/plain.toml" --log warn migrate >/dev/null
  cols=$(on 18223 "SELECT concat(name, ' ', type) FROM system.columns WHERE database = '$plain' AND table = 'api_calls' FORMAT TabSeparatedRaw" | paste -sd, -)
  on 18223 "DROP DATABASE $plain" >/dev/null
  everywhere "CREATE DATABASE $BENCH_DB"
  everywhere "CREATE TABLE $BENCH_DB.api_calls_local ($cols) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/$BENCH_DB$RUN/api_calls_local', '{replica}') PARTITION BY toYYYYMMDD(ts) ORDER BY (ts, api_id)"
  everywhere "CREATE TABLE $BENCH_DB.api_calls AS $BENCH_DB.api_calls_local ENGINE = Distributed($CLUSTER, $BENCH_DB, api_calls_local, sipHash64(toString(call_id)))"
  everywhere "CREATE TABLE $BENCH_DB.ingest_batches (batch_id UUID, kind Enum8('calls' = 1, 'node_samples' = 2), rows UInt32, collector String, ts DateTime) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/$BENCH_DB$RUN/ingest_batches', '{replica}') PARTITION BY toYYYYMM(ts) ORDER BY batch_id"
}
RUN="_$(date +%s)"

log "generating $RECORDS records in batches of $BATCH_LINES (untimed)"
read -r _ raw_bytes zst_bytes < <(python3 "$HERE/ingest_records.py" generate "$T/bodies" "$RECORDS" "$BATCH_LINES" 3 "$TS_SPREAD_SECS")

# Rows replicated: every replica holds its shard's rows (a bound, not timed).
wait_replicated() {
  local want_total=$1 n p
  for _ in $(seq 1 600); do
    n=0
    for p in "${PORTS[@]}"; do
      n=$((n + $(on "$p" "SELECT count() FROM $BENCH_DB.api_calls_local")))
    done
    [ "$n" -ge $((2 * want_total)) ] && return 0
    sleep 0.2
  done
  echo "replicas did not reach $((2 * want_total)) rows in 120 s (have $n)" >&2
}

declare -A RATE DETAIL
run_collector() { # MODE
  local mode=$1 pid
  write_config "$mode"
  make_tables
  bench_start "collector-$mode" "$GATEWATCH" --config "$T/gatewatch.toml" collector
  pid=$LAST_PID
  wait_http "http://127.0.0.1:$COLLECTOR_PORT/healthz" 60 "$pid"
  log "way ($mode): $SENDERS senders → collector → cluster"
  python3 "$HERE/ingest_records.py" send "$T/bodies" "http://127.0.0.1:$COLLECTOR_PORT/v1/records" \
    "$SENDERS" "$CLICKHOUSE_URL" "$BENCH_DB" "$RECORDS" "$DEADLINE_SECS" >"$T/send-$mode.json"
  local e2e rows distinct
  e2e=$(python3 -c "import json; print(json.load(open('$T/send-$mode.json'))['end_to_end_secs'])")
  rows=$(python3 -c "import json; print(json.load(open('$T/send-$mode.json'))['rows'])")
  wait_replicated "$RECORDS"
  distinct=$(on 18223 "SELECT uniqExact(call_id) FROM $BENCH_DB.api_calls")
  RATE[$mode]=$(awk -v n="$rows" -v e="$e2e" 'BEGIN {printf "%.0f", n / e}')
  DETAIL[$mode]="$rows rows ($distinct distinct) in ${e2e}s; per shard $(on 18223 "SELECT count() FROM $BENCH_DB.api_calls_local")/$(on 18225 "SELECT count() FROM $BENCH_DB.api_calls_local")"
  bench_stop "$pid"
  if [ "$mode" = shards ]; then
    # Keep these rows: the references below insert the same rows as Native files.
    mkdir -p "$T/native"
    on 18223 "SELECT * FROM $BENCH_DB.api_calls_local FORMAT Native" >"$T/native/s1"
    on 18225 "SELECT * FROM $BENCH_DB.api_calls_local FORMAT Native" >"$T/native/s2"
    on 18223 "SELECT * FROM $BENCH_DB.api_calls FORMAT Native" >"$T/native/all"
  fi
}

run_collector shards
run_collector distributed

secs_of() { # CMD... → wall seconds
  local s e
  s=$(date +%s.%N)
  "$@"
  e=$(date +%s.%N)
  awk -v a="$s" -v b="$e" 'BEGIN {printf "%.3f", b - a}'
}
post() { # PORT TABLE FILE [PARAMS]
  curl -sS --fail-with-body "http://127.0.0.1:$1/?query=INSERT%20INTO%20$BENCH_DB.$2%20FORMAT%20Native&${4:-}" --data-binary "@$3" >/dev/null
}
both_shards() {
  post 18223 api_calls_local "$T/native/s1" &
  local a=$!
  post 18225 api_calls_local "$T/native/s2"
  wait "$a"
}

log "ClickHouse alone: the same rows as Native files"
write_config shards
make_tables
r1=$(secs_of both_shards)
wait_replicated "$RECORDS"
make_tables
r2=$(secs_of post 18223 api_calls "$T/native/all" insert_distributed_sync=1)
wait_replicated "$RECORDS"
make_tables
r3=$(secs_of post 18223 api_calls_local "$T/native/s1")
s1_rows=$(on 18223 "SELECT count() FROM $BENCH_DB.api_calls_local")

# The async default: how many rows the shards hold the moment the INSERT is answered.
make_tables
post 18223 api_calls "$T/native/all" insert_distributed_sync=0
async_s2=$(on 18225 "SELECT count() FROM $BENCH_DB.api_calls_local")
async_s2b=$(on 18226 "SELECT count() FROM $BENCH_DB.api_calls_local")
sleep 3
async_later=$(on 18225 "SELECT count() FROM $BENCH_DB.api_calls_local")
drop_db

echo
echo "gatewatch cluster ingest benchmark — $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
machine_facts
echo "cluster: $CLUSTER, 2 shards × 2 replicas on this one machine (ops/cluster/up.sh), tables: $TABLES"
echo "records: $RECORDS in batches of $BATCH_LINES lines, $((raw_bytes / RECORDS)) B/record NDJSON, call times over the last ${TS_SPREAD_SECS}s; $SENDERS senders"
echo
printf '%-72s %10s\n' "way" "rows/s"
printf '%-72s %10s   %s\n' "(b) collector splits by shard → each shard's api_calls_local" "${RATE[shards]}" "${DETAIL[shards]}"
printf '%-72s %10s   %s\n' "(a) collector → Distributed api_calls, insert_distributed_sync = 1" "${RATE[distributed]}" "${DETAIL[distributed]}"
awk -v n="$RECORDS" -v r1="$r1" -v r2="$r2" -v r3="$r3" -v s1="$s1_rows" 'BEGIN {
  printf "%-72s %10.0f\n", "ClickHouse alone: Native into both shards'"'"' api_calls_local at once", n / r1
  printf "%-72s %10.0f\n", "ClickHouse alone: Native into Distributed api_calls, sync", n / r2
  printf "%-72s %10.0f   (%d rows in %.2fs)\n", "ClickHouse alone: one shard (ch1 api_calls_local, replicated to ch2)", s1 / r3, s1, r3
}'
echo
echo "insert_distributed_sync = 0 (the default): right after the INSERT of $RECORDS rows into api_calls on ch1 was answered,"
echo "  shard 2 held $async_s2 (ch3) / $async_s2b (ch4) of its rows; 3 s later ch3 held $async_later."
echo "  The answer does not mean the rows are on the shards: 'rows first, marker second' needs sync = 1 or per-shard inserts."
