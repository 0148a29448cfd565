#!/usr/bin/env python3
"""Fuzzes the admin and report API of a real gatewatch with schemathesis.

Starts a private site of the binary (`gatewatch up`: every role, so that test-sends reach a real
alerter) on free ports of 127.0.0.1, with its own ClickHouse database
(`${GATEWATCH_TEST_DB_PREFIX:-gwt_}schemathesis`, dropped first; the binary migrates it) and a
configuration file and data folder under target/schemathesis/. Adds two admins with
`gatewatch user add`, seeds one entity of each kind (so lists and reports answer with real
bodies; the stateful phase creates and follows its own), then runs schemathesis on the site's
own `/api/openapi.json`: the coverage, fuzzing and stateful phases, every operation of the
document, the checks below. Stops the site and exits non-zero with schemathesis's report on
any failure.

Usage: fuzz.py GATEWATCH_BINARY [--schema FILE] [--max-examples N] [--seed N]
  --schema FILE  test a document from a file instead of the served one (to try a document in
                 progress); the site still serves the API.
The run's report (JUnit XML, cassette of every request) goes to target/schemathesis/report/.
"""
import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.abspath("target/schemathesis")
CLICKHOUSE = os.environ.get("GATEWATCH_CLICKHOUSE_URL", "http://127.0.0.1:8123")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# The run's admins: the auth hook acts as the first that can still log in.
USERS = ["st-admin", "st-admin-2"]


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def clickhouse(sql):
    req = urllib.request.Request(CLICKHOUSE + "/", data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()


def call(base, method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return 0, str(e).encode()


def smtp_sink(port):
    """The alerter's tests' SMTP server (aiosmtpd from Debian's python3-aiosmtpd), so that
    test-sends and "run now" send real mail; None when it is not installed."""
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
    script = os.path.abspath("alerter/tests/smtp_sink.py")
    mail = os.path.join(WORK, "mail")
    os.makedirs(mail, exist_ok=True)
    try:
        sink = subprocess.Popen([python, script, str(port), mail], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return None
    if sink.stdout.readline().strip() != "ready":
        sink.kill()
        sink.wait()
        print("schemathesis: no SMTP sink (python3-aiosmtpd missing?); mail is not sent", file=sys.stderr)
        return None
    return sink


def config(db, ports, data_dir, smtp_port):
    dash, alerter, gateway, gateway_admin, collector, reports, portal = ports
    smtp = "" if smtp_port is None else f"""
[alerter.smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "gatewatch@example.tw"
"""
    return f"""# Written by ops/schemathesis/fuzz.py for one run.
data_dir = "{data_dir}"

[clickhouse]
url = "{CLICKHOUSE}"
database = "{db}"

[gateway]
listen = "127.0.0.1:{gateway}"
admin_listen = "127.0.0.1:{gateway_admin}"
collector_url = "http://127.0.0.1:{collector}"

[collector]
listen = "127.0.0.1:{collector}"

[alerter]
listen = "127.0.0.1:{alerter}"

[reports]
listen = "127.0.0.1:{reports}"

[portal]
listen = "127.0.0.1:{portal}"

[dashboards]
listen = "127.0.0.1:{dash}"
alerter_url = "http://127.0.0.1:{alerter}"
# The auth hook's own logins name another address (X-Forwarded-For), so that the fuzzer's
# wrong logins, which lock 127.0.0.1, do not lock the run out (see auth_hook.py).
trusted_proxies = ["127.0.0.1/32"]
{smtp}"""


# One valid body of each kind, so that lists, histories and reports have something to answer.
SEED = [
    ("/api/v1/apis", {"id": "st-api", "name": "St", "prefix": "/st", "upstreams": ["http://127.0.0.1:9"],
                      "portal": {"published": True, "category": "測試", "summary": "St 摘要",
                                 "tags": ["st"], "description": "# St\n\n| a | b |\n|---|---|\n",
                                 "openapi": {"openapi": "3.0.3", "info": {"title": "St", "version": "1"},
                                             "paths": {"/st": {"get": {"summary": "St"}}}}}}),
    ("/api/v1/clients", {"id": "st-client", "name": "St client", "quota": {"per_day": 1000}}),
    ("/api/v1/clients/st-client/keys", {}),
    ("/api/v1/groups", {"id": "st-group", "name": "St group", "apis": ["*"]}),
    ("/api/v1/products", {"id": "st-product", "name": "St product", "apis": ["*"], "approval": "manual"}),
    ("/api/v1/users", {"id": "st-support", "role": "support", "password": "correct horse battery staple"}),
    ("/api/v1/alert-rules", {
        "id": "st-rule", "name": "CPU", "kind": {"type": "node_cpu"}, "threshold": 90,
        "recovery": 80, "for_secs": 180, "repeat_secs": 180,
        "recipients": {"roles": ["ops"], "emails": ["ops@example.tw"]}}),
    ("/api/v1/silences", {
        "id": "st-silence", "rule": "*", "node": "gw1", "from": "2026-11-25T10:00:00Z",
        "until": "2026-11-25T12:00:00Z", "who": "st", "why": "fuzzing"}),
    ("/api/v1/channels", {"id": "st-channel", "name": "St", "email": {"to": ["ops@example.tw"]}}),
    ("/api/v1/report-subscriptions", {
        "id": "st-sub", "name": "Daily usage", "report": "usage", "params": {"range": "yesterday"},
        "cron": "0 8 * * *", "recipients": {"roles": ["manager"], "emails": ["manager@example.tw"]}}),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gatewatch")
    ap.add_argument("--schema")
    ap.add_argument("--max-examples", type=int, default=int(os.environ.get("GW_ST_MAX_EXAMPLES", "25")))
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    gatewatch = os.path.abspath(args.gatewatch)

    shutil.rmtree(WORK, ignore_errors=True)
    data_dir = os.path.join(WORK, "data")
    os.makedirs(data_dir)
    db = os.environ.get("GATEWATCH_TEST_DB_PREFIX", "gwt_") + "schemathesis"
    clickhouse(f"DROP DATABASE IF EXISTS {db}")
    ports = free_ports(8)
    base = f"http://127.0.0.1:{ports[0]}"
    conf = os.path.join(WORK, "gatewatch.toml")
    with open(conf, "w") as f:
        f.write(config(db, ports[:7], data_dir, ports[7]))
    gw = [gatewatch, "--config", conf]
    subprocess.run(gw + ["migrate"], check=True, stdout=subprocess.DEVNULL)
    password = secrets.token_urlsafe(18)
    for user in USERS:
        subprocess.run(gw + ["user", "add", user, "--role", "admin", "--password-stdin"],
                       input=password + "\n", text=True, check=True, stdout=subprocess.DEVNULL)

    sink = smtp_sink(ports[7])
    if sink is None:
        with open(conf, "w") as f:
            f.write(config(db, ports[:7], data_dir, None))
    log = open(os.path.join(WORK, "gatewatch.log"), "w")
    # JSON lines: the errors are picked out of them after a failed run.
    site = subprocess.Popen(gw + ["--log-format", "json", "up"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        return run(args, base, password, site)
    finally:
        site.send_signal(signal.SIGTERM)
        try:
            site.wait(timeout=20)
        except subprocess.TimeoutExpired:
            site.kill()
            site.wait()
        log.close()
        if sink:
            sink.kill()
            sink.wait()
        try:
            clickhouse(f"DROP DATABASE IF EXISTS {db}")
        except OSError:
            pass


def run(args, base, password, site):
    deadline = time.monotonic() + 120
    while call(base, "GET", "/readyz")[0] != 200:
        if site.poll() is not None or time.monotonic() > deadline:
            print(f"schemathesis: the site did not get ready; see {WORK}/gatewatch.log", file=sys.stderr)
            return 1
        time.sleep(0.3)

    # No __pycache__ in ops/: the hook is imported from there, here and by schemathesis.
    env = dict(os.environ, GW_ST_BASE=base, GW_ST_USERS=",".join(USERS), GW_ST_PASSWORD=password,
               SCHEMATHESIS_HOOKS="auth_hook", PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1")
    sys.dont_write_bytecode = True
    sys.path.insert(0, HERE)
    os.environ.update(GW_ST_BASE=base, GW_ST_USERS=",".join(USERS), GW_ST_PASSWORD=password)
    import auth_hook  # noqa: E402 (reads the variables just set)
    bearer = {"Authorization": "Bearer " + auth_hook.new_token()}
    for path, body in SEED:
        status, answer = call(base, "POST", path, body, bearer)
        if status not in (200, 201):
            print(f"schemathesis: seeding {path}: {status} {answer[:300]!r}", file=sys.stderr)
            return 1

    # The document itself first: valid OpenAPI 3.1, or nothing else is worth running.
    status, text = call(base, "GET", "/api/openapi.json")
    document = json.loads(text)
    try:
        from openapi_spec_validator import validate
        validate(document)
    except Exception as e:  # noqa: BLE001 (any refusal of the validator fails the step)
        print(f"schemathesis: /api/openapi.json is not valid OpenAPI 3.1: {e}", file=sys.stderr)
        return 1
    operations = sum(1 for item in document["paths"].values() for m in item
                     if m in ("get", "put", "post", "delete", "patch", "head", "options", "trace"))
    print(f"schemathesis: /api/openapi.json is valid OpenAPI {document['openapi']}, {operations} operations")

    report = os.path.join(WORK, "report")
    cmd = [
        # The venv's Python, not its `st` script: the script's first line names the folder the
        # venv was made in, and breaks when target/ is moved.
        sys.executable, "-m", "schemathesis.cli", "run",
        os.path.abspath(args.schema) if args.schema else base + "/api/openapi.json",
        "--url", base,
        "--checks", CHECKS,
        "--phases", "coverage,fuzzing,stateful",
        "--max-examples", str(args.max_examples),
        # One worker: with two, Debian's Python 3.11 fails now and then inside Hypothesis
        # ("AST constructor recursion depth mismatch", parsing lambdas' source in two threads at
        # once), an error of the tool, not of the API.
        "--workers", "1",
        "--request-timeout", "30",
        "--report", "junit,vcr",
        "--report-dir", report,
    ]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    started = time.monotonic()
    # In the run's folder: schemathesis keeps a cache of its own in the working directory.
    result = subprocess.run(cmd, env=env, cwd=WORK)
    print(f"schemathesis: exit {result.returncode} after {time.monotonic() - started:.0f} s "
          f"(report in {report}, site log in {WORK}/gatewatch.log)")
    if result.returncode == 0:
        # Every operation of the document tested, none skipped (a schema error skips one).
        import glob
        import xml.etree.ElementTree as ET
        junit = max(glob.glob(os.path.join(report, "junit-*.xml")), key=os.path.getmtime)
        cases = ET.parse(junit).getroot().iter("testcase")
        tested = {c.get("name") for c in cases
                  if c.find("skipped") is None and c.find("error") is None
                  and c.get("name", "").split(" ")[0] in ("GET", "PUT", "POST", "DELETE")}
        # schemathesis leaves out the document's own URL (GET /api/openapi.json); the
        # validator above has read it.
        if len(tested) != operations - 1 or "GET /api/openapi.json" in tested:
            print(f"schemathesis: {len(tested)} of {operations - 1} operations tested",
                  file=sys.stderr)
            return 1
        print(f"schemathesis: all {operations - 1} operations tested, and the document itself")
    if result.returncode != 0:
        # What the server said about the failures (a 500 is logged with its cause).
        with open(os.path.join(WORK, "gatewatch.log"), errors="replace") as f:
            errors = [line for line in f if '"level":"ERROR"' in line or "panicked" in line]
        for line in errors[-40:]:
            print("  site: " + line.rstrip())
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
