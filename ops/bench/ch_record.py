#!/usr/bin/env python3
"""A recording proxy in front of ClickHouse's HTTP interface, for ops/bench/reports.sh.

    ch_record.py LISTEN_PORT UPSTREAM_URL LOG_FILE

Forwards every request unchanged and appends one JSON line per query to LOG_FILE:
{"params": <the URL's query string>, "sql": <the query text, from the body or `query=`>}.
The benchmark points a second `gatewatch dashboards` at it to learn which SQL each report
runs, then times that SQL with clickhouse-client as the reference. Loopback only.
"""

import http.client
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
UPSTREAM = urllib.parse.urlsplit(sys.argv[2])
LOG = open(sys.argv[3], "a", encoding="utf-8")
LOCK = threading.Lock()
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
       "content-length"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def forward(self):
        body = self.body()
        parts = urllib.parse.urlsplit(self.path)
        params = urllib.parse.parse_qs(parts.query)
        sql = (params.get("query", [""])[0] + "\n" + body.decode("utf-8", "replace")).strip()
        if sql:
            with LOCK:
                LOG.write(json.dumps({"params": parts.query, "sql": sql}, ensure_ascii=False) + "\n")
                LOG.flush()
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port or 80, timeout=300)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = forward
    do_POST = forward


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
