#!/usr/bin/env python3
"""Checks gatewatch's schema and key queries on a current ClickHouse release.

CI's server is Debian's ClickHouse 18.16; users also run current releases, and no current
server package can be installed here. chDB (PyPI `chdb-core`) embeds a current ClickHouse
engine in-process, so this applies the exact DDL that `gatewatch migrate` would run
(`gatewatch migrate --print-sql`), inserts calls, and checks that the rollups agree and the
"inserted once" look-ups work. What it cannot check: the HTTP interface and RowBinary inserts
of the `clickhouse` crate (which targets current releases first).

Usage: current_clickhouse.py PATH_TO_GATEWATCH_BINARY
"""
import json
import subprocess
import sys
import tempfile
import uuid

from chdb import session

DB = "gwcompat"


def main() -> int:
    gatewatch = sys.argv[1]
    ddl = subprocess.run(
        [gatewatch, "migrate", "--print-sql", "--clickhouse-database", DB],
        check=True, capture_output=True, text=True,
    ).stdout
    statements = [s.strip() for s in ddl.split(";\n") if s.strip()]
    failures = 0
    with tempfile.TemporaryDirectory() as path:
        s = session.Session(path)
        version = s.query("SELECT version()", "CSV").data().strip().strip('"')
        for stmt in statements:
            try:
                s.query(stmt)
            except Exception as e:  # noqa: BLE001 - report every failing statement
                failures += 1
                print(f"FAIL on ClickHouse {version}: {stmt.splitlines()[0]} …\n  {e}")
        if failures:
            return 1

        batch = uuid.uuid4()
        rows = []
        for i in range(1000):
            status = [200, 404, 503][i % 3]
            rows.append({
                "call_id": str(uuid.uuid4()), "request_id": f"r{i}",
                "ts": 1764064800 + i % 120, "ts_us": (1764064800 + i % 120) * 1_000_000,
                "node": f"n{i % 2}", "api_id": f"api-{i % 5}", "api_name": "查詢餘額",
                "client_id": f"c{i % 7}", "method": "GET", "path": "/x",
                "status": status, "outcome": {200: "ok", 404: "client_error", 503: "upstream_error"}[status],
                "latency_us": 1000 + i, "upstream_latency_us": 900 + i, "batch_id": str(batch),
            })
        s.query(f"INSERT INTO {DB}.api_calls FORMAT JSONEachRow\n" + "\n".join(json.dumps(r) for r in rows))

        def one(sql: str) -> str:
            return s.query(sql, "CSV").data().strip()

        checks = {
            f"SELECT count() FROM {DB}.api_calls": "1000",
            f"SELECT countMerge(calls) FROM {DB}.api_calls_1m": "1000",
            f"SELECT countMerge(calls) FROM {DB}.api_calls_1h": "1000",
            f"SELECT countMerge(calls) FROM {DB}.client_api_1h": "1000",
            f"SELECT countMerge(calls) FROM {DB}.api_calls_1m WHERE status_class = 5": "333",
            f"SELECT anyLastMerge(api_name) FROM {DB}.api_calls_1h": '"查詢餘額"',
            f"SELECT sumMerge(latency_sum) FROM {DB}.api_calls_1m": str(sum(r["latency_us"] for r in rows)),
            # the collector's look-ups (store::ingest), same shapes
            f"SELECT count() FROM {DB}.api_calls WHERE ts BETWEEN toDateTime(1764064800) AND toDateTime(1764064920) "
            f"AND batch_id IN (toUUID('{batch}'))": "1000",
            f"SELECT count() FROM {DB}.ingest_batches WHERE batch_id IN (toUUID('{batch}'))": "0",
        }
        for sql, want in checks.items():
            got = one(sql)
            if got != want:
                failures += 1
                print(f"FAIL on ClickHouse {version}: {sql}\n  wanted {want}, got {got}")
        # the configuration log's current-state query (store::config_log::current), same shape
        s.query(f"INSERT INTO {DB}.config_log (entity, id, version, change_id, ts, ts_us, author, comment, deleted, body) VALUES "
                f"('api', 'x', 1, toUUID('{uuid.uuid4()}'), 1764064800, 1764064800000000, 'a', '', 0, 'v1'), "
                f"('api', 'x', 2, toUUID('{uuid.uuid4()}'), 1764064801, 1764064801000000, 'b', '', 0, 'v2')")
        cur = one(f"SELECT entity, id, max(version) AS cur_version, "
                  f"argMax(body, (version, toString(change_id))) AS cur_body "
                  f"FROM {DB}.config_log GROUP BY entity, id ORDER BY entity, id")
        if cur != '"api","x",2,"v2"':
            failures += 1
            print(f"FAIL on ClickHouse {version}: config_log current state: {cur}")
        p = one(f"SELECT quantilesTDigestMerge(0.5, 0.95, 0.99)(latency_q) FROM {DB}.api_calls_1m")
        print(f"ClickHouse {version}: {len(statements)} statements applied, {len(checks)} checks, "
              f"{failures} failed; p50/p95/p99 from the rollup {p}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
