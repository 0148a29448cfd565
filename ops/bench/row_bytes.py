#!/usr/bin/env python3
"""Bytes per call on disk: `api_calls` of a filled database, as the server keeps it and
re-compressed on a current ClickHouse engine (chDB) with LZ4, ZSTD(1) and ZSTD(3).

  row_bytes.py CLICKHOUSE_URL DATABASE

Fill DATABASE first (e.g. `BENCH_DB=capacity TS_SPREAD_SECS=60 BASELINE=0 ops/bench/ingest.sh`).
Prints, per table of DATABASE, rows and bytes on disk per row after OPTIMIZE … FINAL; then the
same rows of api_calls (exported in Native format) in chDB tables whose every column carries the
codec. Needs `chdb-core` (ops/test.sh keeps a venv with it in target/compat-venv). Loopback only.
"""
import sys
import tempfile
import urllib.parse
import urllib.request

from chdb import session


def ch(url, query):
    with urllib.request.urlopen(url, data=query.encode()) as r:
        return r.read()


def columns(ddl):
    """The column definitions of a one-line CREATE TABLE, and what follows them."""
    rest = ddl.split("(", 1)[1]
    body, engine = rest.rsplit(") ENGINE", 1)
    cols, depth, cur = [], 0, ""
    for c in body:
        depth += c == "("
        depth -= c == ")"
        if c == "," and depth == 0:
            cols.append(cur.strip())
            cur = ""
        else:
            cur += c
    cols.append(cur.strip())
    return cols, "ENGINE" + engine


def main():
    url, db = sys.argv[1], sys.argv[2]
    host = urllib.parse.urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("loopback URLs only")
    tables = ch(url, f"SELECT name FROM system.tables WHERE database = '{db}' AND engine LIKE '%MergeTree'").decode().split()
    for t in tables:
        ch(url, f"OPTIMIZE TABLE {db}.{t} FINAL")
    print(ch(url, f"SELECT table, sum(rows) AS r, round(sum(bytes_on_disk) / r, 1) AS bytes_per_row "
                  f"FROM system.parts WHERE active AND database = '{db}' GROUP BY table HAVING r > 0 "
                  f"ORDER BY sum(bytes_on_disk) DESC FORMAT PrettyCompactMonoBlock").decode())
    ddl = ch(url, f"SHOW CREATE TABLE {db}.api_calls FORMAT TSVRaw").decode().strip()
    cols, engine = columns(ddl)
    with tempfile.TemporaryDirectory() as tmp:
        native = f"{tmp}/api_calls.native"
        with open(native, "wb") as f:
            f.write(ch(url, f"SELECT * FROM {db}.api_calls FORMAT Native"))
        s = session.Session(f"{tmp}/chdb")
        version = s.query("SELECT version()", "CSV").data().strip().strip('"')
        s.query("CREATE DATABASE cap")
        for name, codec in [("lz4", "LZ4"), ("zstd1", "ZSTD(1)"), ("zstd3", "ZSTD(3)")]:
            defs = ", ".join(f"{c} CODEC({codec})" for c in cols)
            s.query(f"CREATE TABLE cap.{name} ({defs}) {engine}")
            s.query(f"INSERT INTO cap.{name} SELECT * FROM file('{native}', Native)")
            s.query(f"OPTIMIZE TABLE cap.{name} FINAL")
            r = s.query(f"SELECT sum(rows), round(sum(bytes_on_disk) / sum(rows), 1) FROM system.parts "
                        f"WHERE active AND database = 'cap' AND table = '{name}'", "CSV").data().strip()
            print(f"ClickHouse {version} (chDB), api_calls, every column CODEC({codec}): rows, bytes per row = {r}")


if __name__ == "__main__":
    main()
