#!/usr/bin/env bash
# What a shared idempotency store in ClickHouse would cost per first keyed call: point lookups
# by key in a table of 200,000 kept answers (ReplacingMergeTree ordered by the key's SHA-256),
# one at a time over HTTP as a gateway would on a local miss. Prints median, p90 and p99 of
# LOOKUPS (300) lookups. Uses the database idem_probe of the ClickHouse at CLICKHOUSE_URL
# (http://127.0.0.1:8123) and drops it after.
set -euo pipefail
CH="${CLICKHOUSE_URL:-http://127.0.0.1:8123}"
LOOKUPS="${LOOKUPS:-300}"
q() { curl -sS --fail "$CH/" --data-binary "$1"; }
q "CREATE DATABASE IF NOT EXISTS idem_probe"
trap 'q "DROP DATABASE IF EXISTS idem_probe" >/dev/null' EXIT
q "DROP TABLE IF EXISTS idem_probe.keys"
q "CREATE TABLE idem_probe.keys (key FixedString(32), fp FixedString(32), status UInt16, body String, expires DateTime) ENGINE = ReplacingMergeTree ORDER BY key"
q "INSERT INTO idem_probe.keys SELECT SHA256(toString(number)), SHA256(toString(number + 1)), 201, arrayStringConcat(arrayMap(x -> 'x', range(200))), now() + 3600 FROM system.numbers LIMIT 200000"
CH="$CH" LOOKUPS="$LOOKUPS" python3 - <<'PY'
import hashlib, os, time, urllib.request
ch, n = os.environ["CH"], int(os.environ["LOOKUPS"])
lat, hits = [], 0
for i in range(n):
    k = hashlib.sha256(str(i * 37).encode()).hexdigest()
    sql = f"SELECT status, length(body) FROM idem_probe.keys WHERE key = unhex('{k}') AND expires > now() LIMIT 1 FORMAT TSV"
    t = time.perf_counter()
    hits += bool(urllib.request.urlopen(ch + "/", data=sql.encode()).read().strip())
    lat.append((time.perf_counter() - t) * 1000)
lat.sort()
pick = lambda p: lat[min(n - 1, int(n * p))]
print(f"{n} point lookups, {hits} hits: median {pick(0.5):.2f} ms, p90 {pick(0.9):.2f} ms, p99 {pick(0.99):.2f} ms")
PY
