#!/usr/bin/env bash
# Fuzzes the admin and report API of the real binary with schemathesis (PyPI), pinned below,
# from a venv under target/ that later runs reuse. Needs ClickHouse at 127.0.0.1:8123 and a
# built target/debug/gatewatch (`cargo build` or the tests build it). Extra arguments go to
# ops/schemathesis/fuzz.py (--schema FILE, --max-examples N, --seed N).
set -euo pipefail
cd "$(dirname "$0")/.."
. ops/lib/common.sh
SCHEMATHESIS_VERSION=4.32.5
# Checks the served document against the OpenAPI 3.1 specification first.
VALIDATOR_VERSION=0.9.0
venv=target/schemathesis-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
fi
if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" != "$SCHEMATHESIS_VERSION" ]; then
  "$venv/bin/python" -m pip install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("openapi-spec-validator"))' 2>/dev/null)" != "$VALIDATOR_VERSION" ]; then
  "$venv/bin/python" -m pip install -q "openapi-spec-validator==$VALIDATOR_VERSION"
fi
exec "$venv/bin/python" ops/schemathesis/fuzz.py target/debug/gatewatch "$@"
