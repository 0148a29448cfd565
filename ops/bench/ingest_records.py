#!/usr/bin/env python3
"""Helper of ops/bench/ingest.sh (standard library only).

  ingest_records.py generate DIR RECORDS BATCH_LINES ZSTD_LEVEL [TS_SPREAD_SECS]
      Writes RECORDS CallRecord NDJSON lines in batches of BATCH_LINES, each batch compressed
      with the zstd CLI into DIR/<n>-<batch uuid>.zst; call times are spread over the last
      TS_SPREAD_SECS (86400). Prints "lines bytes compressed_bytes".

  ingest_records.py send DIR URL SENDERS CLICKHOUSE_URL DATABASE RECORDS DEADLINE_SECS
      POSTs every DIR/*.zst to URL (the collector's /v1/records) from SENDERS threads, each on
      its own keep-alive connection, and polls `SELECT count()` of DATABASE.api_calls until it
      equals RECORDS. Prints one JSON object with the timings.

  ingest_records.py perf-summary PERF_SCRIPT_TXT COLLECTOR_PID CLICKHOUSE_PID
      Summarises `perf script -F comm,pid,tid,ip,sym,dso`: CPU by process, and the collector's
      top symbols by kind of thread.

Only loopback URLs are accepted.
"""

import http.client
import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from multiprocessing import Pool

# ------------------------------------------------------------------------------------------
# generate

NODES = ["gw-tpe-1", "gw-tpe-2", "gw-khh-1", "gw-khh-2"]
API_NAMES = [
    "查詢餘額", "轉帳交易", "帳戶明細", "信用卡帳單", "外幣匯率", "貸款試算", "客戶資料",
    "Orders v2", "Payments", "Customer Profile", "Inventory", "Shipping Quote", "Auth Token",
    "戶籍資料查詢", "地籍資料查詢", "稅務申報", "健保資格查詢", "車籍資料", "Weather Feed",
    "Exchange Rates",
]
RESOURCES = ["accounts", "orders", "items", "customers", "records", "quotes", "tokens"]
USER_AGENTS = [
    "okhttp/4.12.0",
    "Apache-HttpClient/4.5.14 (Java/17.0.10)",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "axios/1.6.8",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "curl/7.88.1",
]
# (status, weight, outcome)
STATUSES = [
    (200, 820, "ok"), (201, 40, "ok"), (204, 20, "ok"), (304, 10, "ok"),
    (400, 20, "client_error"), (401, 10, "refused_auth"), (403, 5, "refused_not_allowed"),
    (404, 25, "client_error"), (429, 10, "refused_rate"), (500, 15, "upstream_error"),
    (502, 8, "upstream_unreachable"), (503, 10, "upstream_error"), (504, 7, "timeout"),
]
STATUS_TABLE = [s for s in STATUSES for _ in range(s[1])]

APIS = []
for i in range(50):
    APIS.append({
        "api_id": f"api-{i:03d}",
        "api_name": f"{API_NAMES[i % len(API_NAMES)]} {i // len(API_NAMES) + 1}",
        "module": f"module-{i % 8}",
        "prefix": f"/svc{i:02d}",
        "upstreams": [f"http://10.0.{i % 10}.{11 + k}:8080" for k in range(3)],
    })
CLIENTS = []
for j in range(200):
    CLIENTS.append({
        "client_id": f"client-{j:04d}",
        "app_id": f"app-{j % 60:03d}",
        "api_key_id": f"key-{j:04d}",
        "ip": f"10.{20 + j // 100}.{j % 100}.",
        "ua": USER_AGENTS[j % len(USER_AGENTS)],
    })


def uuid7(rnd, ms):
    r = rnd.getrandbits(74)
    v = (ms << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | (r & ((1 << 62) - 1))
    return str(uuid.UUID(int=v))


def esc(s):
    return json.dumps(s, ensure_ascii=False)


def batch_lines(seed, n, now_us, spread_us):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        ts_us = now_us - rnd.randrange(spread_us)
        call_id = uuid7(rnd, ts_us // 1000)
        api = APIS[rnd.randrange(len(APIS))]
        cl = CLIENTS[rnd.randrange(len(CLIENTS))]
        status, _, outcome = STATUS_TABLE[rnd.randrange(len(STATUS_TABLE))]
        method = "GET" if rnd.random() < 0.7 else "POST"
        path = f"{api['prefix']}/v1/{RESOURCES[rnd.randrange(len(RESOURCES))]}/{rnd.randrange(1, 10_000_000)}"
        query = f"page={rnd.randrange(1, 50)}&size=20" if method == "GET" and rnd.random() < 0.3 else ""
        upstream_latency = int(rnd.lognormvariate(9.3, 0.9))
        overhead = rnd.randrange(80, 900)
        latency = upstream_latency + overhead
        req_bytes = 0 if method == "GET" else rnd.randrange(200, 6000)
        resp_bytes = 0 if status in (204, 304) else rnd.randrange(120, 24_000)
        out.append(
            '{"call_id":"%s","request_id":"%s","ts_us":%d,"node":"%s","api_id":"%s","api_name":%s,'
            '"module":"%s","route":"%s/**","method":"%s","path":"%s","query":"%s","client_id":"%s",'
            '"app_id":"%s","api_key_id":"%s","client_ip":"%s%d","user_agent":%s,"upstream":"%s",'
            '"status":%d,"outcome":"%s","latency_us":%d,"upstream_latency_us":%d,"overhead_us":%d,'
            '"request_bytes":%d,"response_bytes":%d}'
            % (
                call_id, call_id, ts_us, NODES[rnd.randrange(4)], api["api_id"], esc(api["api_name"]),
                api["module"], api["prefix"], method, path, query, cl["client_id"],
                cl["app_id"], cl["api_key_id"], cl["ip"], rnd.randrange(1, 255), esc(cl["ua"]),
                api["upstreams"][rnd.randrange(3)],
                status, outcome, latency, upstream_latency, overhead, req_bytes, resp_bytes,
            )
        )
    return ("\n".join(out) + "\n").encode()


def write_batch(args):
    directory, index, n, level, salt, now_us, spread_us = args
    body = batch_lines(salt * 1_000_003 + index, n, now_us, spread_us)
    batch_id = uuid.uuid4()
    path = os.path.join(directory, f"{index:06d}-{batch_id}.zst")
    subprocess.run(["zstd", "-q", f"-{level}", "-f", "-o", path], input=body, check=True)
    return len(body), os.path.getsize(path)


def generate(directory, records, batch_lines_n, level, spread_secs=86_400):
    os.makedirs(directory, exist_ok=True)
    salt = int.from_bytes(os.urandom(8), "little")
    now_us = int(time.time() * 1_000_000)
    jobs = []
    index = 0
    left = records
    while left > 0:
        n = min(batch_lines_n, left)
        jobs.append((directory, index, n, level, salt, now_us, int(spread_secs * 1_000_000)))
        index += 1
        left -= n
    with Pool(os.cpu_count() or 2) as pool:
        sizes = pool.map(write_batch, jobs, chunksize=1)
    print(records, sum(s[0] for s in sizes), sum(s[1] for s in sizes))


# ------------------------------------------------------------------------------------------
# send


def loopback(url):
    u = urllib.parse.urlsplit(url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing non-loopback URL {url}")
    return u


def ch_count(ch, database):
    u = loopback(ch)
    conn = http.client.HTTPConnection(u.hostname, u.port or 8123, timeout=30)
    q = f"SELECT count() FROM {database}.api_calls"
    while True:
        conn.request("POST", "/", body=q.encode())
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"ClickHouse answered {r.status}: {data[:300]!r}")
        yield int(data)


def send(directory, url, senders, ch, database, records, deadline_secs):
    u = loopback(url)
    files = sorted(f for f in os.listdir(directory) if f.endswith(".zst"))
    work = queue.Queue()
    for f in files:
        work.put(f)
    errors = []
    acked = {"lines": 0, "requests": 0, "retries": 0}
    lock = threading.Lock()
    latencies = []

    def sender():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        while not errors:
            try:
                name = work.get_nowait()
            except queue.Empty:
                return
            batch_id = name.split("-", 1)[1][: -len(".zst")]
            with open(os.path.join(directory, name), "rb") as fh:
                body = fh.read()
            headers = {
                "Content-Type": "application/x-ndjson",
                "Content-Encoding": "zstd",
                "x-gatewatch-batch-id": batch_id,
                # The collector takes records only with its ingest token.
                "Authorization": "Bearer " + os.environ.get("GATEWATCH_INGEST_TOKEN", ""),
            }
            while True:
                t0 = time.monotonic()
                try:
                    conn.request("POST", u.path, body=body, headers=headers)
                    r = conn.getresponse()
                    answer = r.read()
                except (http.client.HTTPException, OSError) as e:
                    errors.append(f"{name}: {e}")
                    return
                if r.status == 503:
                    with lock:
                        acked["retries"] += 1
                    time.sleep(float(r.getheader("Retry-After", "1")))
                    continue
                if r.status != 200:
                    errors.append(f"{name}: HTTP {r.status} {answer[:300]!r}")
                    return
                doc = json.loads(answer)
                with lock:
                    acked["lines"] += doc["accepted"]
                    acked["requests"] += 1
                    latencies.append(time.monotonic() - t0)
                if doc.get("rejected"):
                    errors.append(f"{name}: {doc}")
                    return
                break

    counts = ch_count(ch, database)
    before = next(counts)
    if before != 0:
        sys.exit(f"{database}.api_calls is not empty ({before} rows)")
    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    start = time.monotonic()
    for t in threads:
        t.start()
    timeline = []  # (seconds since start, rows)
    acked_at = None
    rows = 0
    while True:
        time.sleep(0.1)
        now = time.monotonic() - start
        if acked_at is None and not any(t.is_alive() for t in threads):
            acked_at = now
        rows = next(counts)
        timeline.append((round(now, 2), rows))
        if errors:
            break
        if rows >= records or now > deadline_secs:
            break
    end = time.monotonic() - start
    for t in threads:
        t.join(timeout=5)
    if acked_at is None:
        acked_at = end
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1) if latencies else 0

    # rows when the last POST was acknowledged
    rows_at_ack = max([r for (t, r) in timeline if t <= acked_at] or [0])
    print(json.dumps({
        "records": records,
        "batches": len(files),
        "acked_lines": acked["lines"],
        "acked_requests": acked["requests"],
        "retries_503": acked["retries"],
        "ack_secs": round(acked_at, 3),
        "end_to_end_secs": round(end, 3),
        "rows": rows,
        "rows_at_last_ack": rows_at_ack,
        "post_ms_p50": pct(0.5),
        "post_ms_p99": pct(0.99),
        "errors": errors[:5],
        "timeline": timeline,
    }))


# ------------------------------------------------------------------------------------------
# perf-summary: `perf script -F pid,tid,comm,sym,dso` output → where the collector's CPU went


def perf_summary(path, collector_pid, ch_pid):
    import collections
    import re

    pat = re.compile(r"\s*(.+?)\s+(\d+)/(\d+)\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")
    total = 0
    by_proc = collections.Counter()
    threads = collections.Counter()
    syms = collections.defaultdict(collections.Counter)
    names = {}
    for line in open(path, errors="replace"):
        m = pat.match(line)
        if not m:
            continue
        comm, pid, tid, sym, dso = m.groups()
        total += 1
        proc = {collector_pid: "collector", ch_pid: "clickhouse-server"}.get(pid, "idle" if pid == "0" else comm)
        by_proc[proc] += 1
        if pid == collector_pid:
            threads[tid] += 1
            names[tid] = comm
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            syms[tid][(dso.rsplit("/", 1)[-1], sym)] += 1
    if not total:
        print("  (no samples)")
        return
    print("  by process: " + ", ".join(f"{p} {100 * n / total:.1f}%" for p, n in by_proc.most_common(8)))
    workers = sorted((t for t in threads if names[t].startswith("tokio")), key=int)
    groups = {
        "runtime workers (HTTP, inserter: gather, rows, RowBinary+LZ4)": workers[:2],
        "blocking pool (ingest: zstd + NDJSON decode)": workers[2:],
        "wal-writer": [t for t in threads if names[t] == "wal-writer"],
    }
    for label, tids in groups.items():
        n = sum(threads[t] for t in tids)
        if not n:
            continue
        agg = collections.Counter()
        for t in tids:
            agg.update(syms[t])
        print(f"  collector, {label}: {100 * n / total:.1f}% of all samples; top symbols:")
        for (dso, sym), k in agg.most_common(10):
            print(f"    {100 * k / n:5.1f}%  {dso:<18} {sym[:100]}")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "generate" and len(sys.argv) in (6, 7):
        generate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
                 float(sys.argv[6]) if len(sys.argv) == 7 else 86_400)
    elif cmd == "send" and len(sys.argv) == 9:
        send(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6],
             int(sys.argv[7]), float(sys.argv[8]))
    elif cmd == "perf-summary" and len(sys.argv) == 5:
        perf_summary(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
