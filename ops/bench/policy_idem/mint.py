#!/usr/bin/env python3
"""Feeds transaction tokens for API `bench-tx` and client `bench` into the FIFO given, one a
line, minted as the gateway does (gateway/src/policy/tx_token/token.rs) under the bench's
pepper, until killed. Each reader of the FIFO gets fresh tokens."""
import base64, hashlib, hmac, os, sys, time

PEPPER = b"bench-pepper-not-a-secret-0123456789"
KEY = hmac.new(PEPPER, b"gatewatch tx-token v1", hashlib.sha256).digest()
API = b"bench-tx"
CLIENT = b"bench"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def mint():
    payload = (int(time.time()) + 3600).to_bytes(8, "big") + os.urandom(16)
    payload += len(API).to_bytes(2, "big") + API + CLIENT
    mac = hmac.new(KEY, payload, hashlib.sha256).digest()
    return b"gwtx1." + b64(payload) + b"." + b64(mac) + b"\n"


while True:
    try:
        with open(sys.argv[1], "wb", buffering=1 << 16) as f:
            while True:
                f.write(mint())
    except BrokenPipeError:
        pass
