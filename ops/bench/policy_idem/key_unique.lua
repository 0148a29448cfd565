-- A POST with a new Idempotency-Key every call (unique across wrk runs: a prefix per run).
math.randomseed(os.time())
local prefix = string.format("%x-%x", os.time(), math.random(0, 2 ^ 30))
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = os.getenv("BENCH_AUTH"),
    ["Idempotency-Key"] = '"' .. prefix .. "-" .. n .. '"',
  }, '{"amount":5}')
end
