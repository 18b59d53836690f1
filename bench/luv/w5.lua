-- W5 parked memory (peer: luv + hand-written plumbing): N coroutines
-- waiting on one event (a waiter list), then set.
local B = require "benchlib"
local W, I = "W5", "luv"
B.need(W, I, "luv")
local P = require "luvplumb"
local N = B.n(100000)
local now = B.clock()

local parked, woken = 0, 0
local before, parked_rss, ms
B.collect()
before = B.rss()
P.spawn(function()
  local t0 = now()
  local ev = P.event()
  local join = P.counter(N)
  local function task()
    parked = parked + 1
    ev.wait()
    woken = woken + 1
    join.done()
  end
  for _ = 1, N do P.spawn(task) end
  while parked < N do P.yield_now() end
  parked_rss = B.rss()
  ev.fire()
  join.wait()
  ms = (now() - t0) * 1000
end)
P.run()
B.check(woken == N, W, I, "woken " .. woken)
B.report(W, I, { "bpt", (B.peak_rss() - before) / N,
                 "parked_bpt", (parked_rss - before) / N, "ms", ms, "n", N })
