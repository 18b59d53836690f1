-- W5 parked memory, the limit: N raw coroutines parked in a waiter list,
-- then resumed; (peak RSS - RSS before) / N in bytes per task.
local B = require "benchlib"
local W, I = "W5", "raw"
local N = B.n(100000)
local now = B.clock()
local create, resume, yield, running = coroutine.create, coroutine.resume,
                                       coroutine.yield, coroutine.running

local waiters, woken = {}, 0
local function waiter()
  waiters[#waiters + 1] = running()
  yield()
  woken = woken + 1
end

B.collect()
local before = B.rss()
local t0 = now()
for _ = 1, N do resume(create(waiter)) end
local parked_rss = B.rss()
local list = waiters
waiters = {}
for i = 1, #list do resume(list[i]) end
list = nil -- luacheck: ignore 311 (lets the waiters be collected)
local ms = (now() - t0) * 1000
B.check(woken == N, W, I, "woken " .. woken)
local peak = B.peak_rss()
B.report(W, I, { "bpt", (peak - before) / N,
                 "parked_bpt", (parked_rss - before) / N, "ms", ms, "n", N })
