-- W5 parked memory (peer: cqueues): N coroutines waiting on one
-- condition, then signalled.
local B = require "benchlib"
local W, I = "W5", "cqueues"
local cqueues = B.need(W, I, "cqueues")
local condition = B.need(W, I, "cqueues.condition")
local N = B.n(100000)
local now = cqueues.monotime

local cond = condition.new()
local parked, woken = 0, 0
local function worker()
  parked = parked + 1
  cond:wait()
  woken = woken + 1
end

B.collect()
local before = B.rss()
local parked_rss
local t0 = now()
local cq = cqueues.new()
for _ = 1, N do cq:wrap(worker) end
cq:wrap(function()
  while parked < N do cqueues.sleep(0) end
  parked_rss = B.rss()
  cond:signal()
end)
local ok, err = cq:loop()
if not ok then B.fail(W, I, err) end
local ms = (now() - t0) * 1000
B.check(woken == N, W, I, "woken " .. woken)
B.report(W, I, { "bpt", (B.peak_rss() - before) / N,
                 "parked_bpt", (parked_rss - before) / N, "ms", ms, "n", N })
