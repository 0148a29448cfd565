-- wrk: a POST of a small JSON order (ordinary values a shop API gets) for the message checks.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"customer":{"name":"O\'Brien","city":"臺北市信義區市府路1號"},"items":[{"sku":"A-1","qty":2,"note":"select a seat"},{"sku":"B-2","qty":1,"note":"gift wrap, 3 < 4"}],"comment":"He said \\"hi\\""}'
