-- A POST with the same Idempotency-Key every call: after the first, every call is a replay.
wrk.method = "POST"
wrk.body = '{"amount":5}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
wrk.headers["Idempotency-Key"] = '"bench-same-key"'
