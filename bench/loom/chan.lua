-- CHAN ping-pong (loom): two tasks pass a value back and forth over two
-- loom.channel(0) (rendezvous); M round trips = 2M messages. Messages per
-- second. M = BENCH_N (default 100 000).
local B = require "benchlib"
local W, I = "CHAN", "loom"
local loom = B.need(W, I, "loom")
if not loom.channel then B.fail(W, I, "loom.channel not available yet") end
local M = B.n(100000)
local now = loom.now

local sum, ms, cpu = 0, nil, nil
local ok, err = pcall(loom.run, function()
  local ping, pong = loom.channel(0), loom.channel(0)
  B.collect()
  local c0, t0 = os.clock(), now()
  loom.with_group(function(g)
    g:spawn(function()
      for _ = 1, M do pong:send(ping:receive()) end
    end)
    for i = 1, M do
      ping:send(i)
      sum = sum + pong:receive()
    end
  end)
  ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
end)
if not ok then B.fail(W, I, err) end
B.check(sum == M * (M + 1) // 2, W, I, "sum " .. sum)
B.report(W, I, { "mps", 2 * M / (ms / 1000), "ms", ms, "cpu", cpu, "n", M })
