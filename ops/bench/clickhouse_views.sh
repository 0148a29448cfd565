#!/usr/bin/env bash
# ClickHouse alone: what each materialized view of api_calls costs at insert time. Takes the
# rows that ops/bench/ingest.sh left in $BENCH_DB.api_calls, cuts them into rounds of ROUND rows
# (Native format), and inserts them over HTTP into a scratch database ($BENCH_DB_views,
# dropped at start and end) holding api_calls with no view, each view alone, and all three;
# one insert at a time, then two at a time. No gatewatch process is involved.
#
#   ops/bench/ingest.sh && ops/bench/clickhouse_views.sh
#   ROUND=1000000 ops/bench/clickhouse_views.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. ops/lib/common.sh
. ops/bench/lib.sh

ROUND="${ROUND:-200000}"
ensure_clickhouse
bench_init
T="$BENCH_TMP"
DB="${BENCH_DB}_views"
N=$(ch "SELECT count() FROM $BENCH_DB.api_calls" 2>/dev/null || echo 0)
if [ "$N" -eq 0 ]; then
  echo "$BENCH_DB.api_calls is empty or missing: run ops/bench/ingest.sh first" >&2
  exit 1
fi
spread=$(ch "SELECT max(ts) - min(ts) FROM $BENCH_DB.api_calls")

chunks=$(((N + ROUND - 1) / ROUND))
mkdir -p "$T/native"
for ((i = 0; i < chunks; i++)); do
  ch "SELECT * FROM $BENCH_DB.api_calls WHERE cityHash64(toString(call_id)) % $chunks = $i FORMAT Native" >"$T/native/$(printf %05d "$i")"
done

ddl() { ch "SHOW CREATE TABLE $BENCH_DB.$1 FORMAT TSVRaw" | sed "s/$BENCH_DB\./$DB./g"; }
setup() { # ROLLUP... : api_calls plus these rollups and their views
  ch "DROP DATABASE IF EXISTS $DB" >/dev/null
  ch "CREATE DATABASE $DB" >/dev/null
  ch "$(ddl api_calls)" >/dev/null
  local t
  for t in "$@"; do
    ch "$(ddl "$t")" >/dev/null
    ch "$(ddl "${t}_mv")" >/dev/null
  done
}
timed() { # STREAMS → "seconds rows/s"
  local s e
  s=$(date +%s.%N)
  find "$T/native" -type f | sort | xargs -P"$1" -I{} \
    curl -sS --fail-with-body -o /dev/null "$CLICKHOUSE_URL/?query=INSERT%20INTO%20$DB.api_calls%20FORMAT%20Native" --data-binary @{}
  e=$(date +%s.%N)
  awk -v a="$s" -v b="$e" -v n="$N" 'BEGIN {printf "%6.2f s %8.0f rows/s", b - a, n / (b - a)}'
}

echo "ClickHouse $(ch_version) alone: $N rows of $BENCH_DB.api_calls (call times over ${spread}s) in rounds of $ROUND, Native over HTTP"
printf '%-46s %-28s %s\n' "views on api_calls" "one insert at a time" "two at a time"
for v in "" api_calls_1m api_calls_1h client_api_1h "api_calls_1m api_calls_1h client_api_1h"; do
  # shellcheck disable=SC2086
  setup $v
  one=$(timed 1)
  # shellcheck disable=SC2086
  setup $v
  two=$(timed 2)
  printf '%-46s %-28s %s\n' "${v:-none}" "$one" "$two"
done
ch "DROP DATABASE IF EXISTS $DB" >/dev/null
