-- LOCK hand-off, the limit: T = 4 raw coroutines take one FIFO lock M/T
-- times each and hold it across a yield (bench/lib/rawsched.lua), so every
-- release hands the lock to the next waiter. Hand-offs per second.
local B = require "benchlib"
local S = require "rawsched"
local W, I = "LOCK", "raw"
local M = B.n(100000)
local T = 4
local K = M // T
local now = B.clock()
local acquire, release, yield_now = S.acquire, S.release, S.yield_now

local lk = S.lock()
local taken, holders = 0, 0
B.collect()
local c0, t0 = os.clock(), now()
for _ = 1, T do
  S.spawn(function()
    for _ = 1, K do
      acquire(lk)
      holders = holders + 1
      if holders ~= 1 then error("two holders") end
      taken = taken + 1
      yield_now()
      holders = holders - 1
      release(lk)
    end
  end)
end
S.run()
local ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
B.check(taken == K * T, W, I, "taken " .. taken)
B.report(W, I, { "hps", taken / (ms / 1000), "ms", ms, "cpu", cpu, "n", K * T })
