-- LOCK hand-off (loom): T = 4 tasks each take one loom.lock M/T times and
-- hold it across a checkpoint, so every release hands the lock to the next
-- waiter (FIFO). Hand-offs per second. M = BENCH_N (default 100 000).
local B = require "benchlib"
local W, I = "LOCK", "loom"
local loom = B.need(W, I, "loom")
if not loom.lock then B.fail(W, I, "loom.lock not available yet") end
local M = B.n(100000)
local T = 4
local K = M // T
local now, checkpoint = loom.now, loom.checkpoint

local taken, holders, ms, cpu = 0, 0, nil, nil
local ok, err = pcall(loom.run, function()
  local lk = loom.lock()
  B.collect()
  local c0, t0 = os.clock(), now()
  loom.with_group(function(g)
    for _ = 1, T do
      g:spawn(function()
        for _ = 1, K do
          lk:acquire()
          holders = holders + 1
          if holders ~= 1 then error("two holders") end
          taken = taken + 1
          checkpoint()
          holders = holders - 1
          lk:release()
        end
      end)
    end
  end)
  ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
end)
if not ok then B.fail(W, I, err) end
B.check(taken == K * T, W, I, "taken " .. taken)
B.report(W, I, { "hps", taken / (ms / 1000), "ms", ms, "cpu", cpu, "n", K * T })
