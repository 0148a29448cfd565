"""Schemathesis auth hook: every request carries a live admin bearer token.

The run tests every operation, including those that end its own credentials (`POST
/api/v1/logout?everywhere=true` ends every token of the caller, `DELETE
/api/v1/me/tokens/{token_id}` one of them). So the token is not fixed: each time the cached
one expires (every second) or a request was answered 401, it is checked with `GET
/api/v1/me` and, when dead, replaced by a fresh one (log in, `POST /api/v1/me/tokens`).

The fuzzer's wrong logins lock its address (see dashboards/src/lockout.rs); the private site
trusts 127.0.0.1 as a proxy, so this hook's own logins name another client address in
`X-Forwarded-For` and are not locked with it.

The fuzzer may also reset the password of the user it acts as (`PUT /api/v1/users/{id}`
with a `password`): then the next admin of GW_ST_USERS takes over.

Reads GW_ST_BASE (http://127.0.0.1:PORT), GW_ST_USERS (admins, comma-separated) and
GW_ST_PASSWORD (theirs) from the environment (set by fuzz.py).
"""
import json
import os
import urllib.error
import urllib.request

import schemathesis

BASE = os.environ["GW_ST_BASE"]
USERS = os.environ["GW_ST_USERS"].split(",")
PASSWORD = os.environ["GW_ST_PASSWORD"]
# TEST-NET-1: never the fuzzer's own address.
HOOK_ADDRESS = "192.0.2.10"


def call(method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def new_token():
    """Logs in as the first admin that still can and makes a bearer token (shown once)."""
    xff = {"X-Forwarded-For": HOOK_ADDRESS}
    refused = []
    for user in USERS:
        status, headers, body = call("POST", "/api/v1/login", {"user": user, "password": PASSWORD}, xff)
        if status == 200:
            break
        refused.append(f"{user}: {status} {body[:200]!r}")
    else:
        raise RuntimeError("no admin can log in: " + "; ".join(refused))
    csrf = json.loads(body)["csrf_token"]
    cookie = "; ".join(c.split(";", 1)[0] for c in headers.get_all("set-cookie") or [])
    status, _, body = call(
        "POST", "/api/v1/me/tokens", {"name": "schemathesis"},
        {**xff, "Cookie": cookie, "X-CSRF-Token": csrf},
    )
    if status != 201 and status != 200:
        raise RuntimeError(f"token for {user}: {status} {body[:300]!r}")
    return json.loads(body)["secret"]


@schemathesis.auth(refresh_interval=1)
class AdminToken:
    token = None

    def get(self, case, context):
        cls = type(self)
        if cls.token is not None:
            status, _, _ = call("GET", "/api/v1/me", headers={"Authorization": f"Bearer {cls.token}"})
            if status == 200:
                return cls.token
        cls.token = new_token()
        return cls.token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
