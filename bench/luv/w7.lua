-- W7 peer (luv): a round trip through luv's uv.new_work (a Lua function
-- run in libuv's thread pool, in a Lua state of the pool's, its arguments
-- and results passed as plain values) N times in a row, the next queued
-- from the after-work callback; then C at once, N in all. Reports `us`
-- and `us_conc` per round trip, as bench/loom/w7.lua.
local B = require "benchlib"
local W, I = "W7", "luv"
local uv = B.need(W, I, "luv")
local N = B.n(100000)
local C = B.env("BENCH_C", 8)
local now = B.clock()

local sum, done = 0, 0
local work
local function after(v)
  sum = sum + v
  done = done + 1
  if done < N then work:queue(done) end
end
work = uv.new_work(function(x) return x + 1 end, after)
for i = 1, 100 do                  -- threads up, states made
  local w = uv.new_work(function(x) return x end, function() end)
  w:queue(i)
end
uv.run()
local c0, t0 = os.clock(), now()
work:queue(0)
uv.run()
local us = (now() - t0) * 1e6 / N
local cpu = (os.clock() - c0) * 1e6 / N
B.check(sum == N * (N + 1) // 2, W, I, "sum " .. sum)

local queued, finished = 0, 0
local cw
cw = uv.new_work(function(x) return x + 1 end, function()
  finished = finished + 1
  if queued < N then
    queued = queued + 1
    cw:queue(queued)
  end
end)
local t1 = now()
for _ = 1, C do
  queued = queued + 1
  cw:queue(queued)
end
uv.run()
local us_conc = (now() - t1) * 1e6 / N
B.check(finished == N, W, I, "finished " .. finished)
B.report(W, I, { "us", us, "cpu", cpu, "us_conc", us_conc, "n", N })
