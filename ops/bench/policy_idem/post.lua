-- A POST with a small JSON body, no policy header.
wrk.method = "POST"
wrk.body = '{"amount":5}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
