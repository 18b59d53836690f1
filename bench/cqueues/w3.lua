-- W3 cancel storm (peer: cqueues, which has no cancellation): N
-- coroutines wait on one condition with a 1000 s timeout; "cancel" is
-- cond:signal() (wake-up only, no unwinding); ms from it until the loop
-- has no coroutine left.
local B = require "benchlib"
local W, I = "W3", "cqueues"
local cqueues = B.need(W, I, "cqueues")
local condition = B.need(W, I, "cqueues.condition")
local N = B.n(100000)
local now = cqueues.monotime

local cond = condition.new()
local parked, woken = 0, 0
local function worker()
  parked = parked + 1
  if cond:wait(1000) then woken = woken + 1 end
end

local t0, c0
B.collect()
local cq = cqueues.new()
for _ = 1, N do cq:wrap(worker) end
cq:wrap(function()
  while parked < N do cqueues.sleep(0) end
  c0, t0 = os.clock(), now()
  cond:signal()
end)
local ok, err = cq:loop()
if not ok then B.fail(W, I, err) end
local ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
B.check(woken == N, W, I, "woken " .. woken)
B.report(W, I, { "ms", ms, "cpu", cpu, "rss_kb", B.peak_rss() // 1024,
                 "n", N })
