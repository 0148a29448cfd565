-- A POST with a fresh transaction token every call, read from the FIFO that
-- ops/bench/policy_idem/mint.py feeds (TX_FIFO).
local fifo = nil
request = function()
  fifo = fifo or assert(io.open(os.getenv("TX_FIFO"), "r"))
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = os.getenv("BENCH_AUTH"),
    ["Tx-Token"] = fifo:read("*l"),
  }, '{"amount":5}')
end
