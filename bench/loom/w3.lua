-- W3 cancel storm (loom): N tasks each blocked in sleep(1000) inside a
-- pcall; once all are parked, g:cancel(); ms from the cancel until every
-- task has unwound (its pcall handler ran) and with_group has returned.
local B = require "benchlib"
local W, I = "W3", "loom"
local loom = B.need(W, I, "loom")
local N = B.n(100000)
local sleep, now, is_cancelled = loom.sleep, loom.now, loom.is_cancelled

local parked, unwound = 0, 0
local function sleeper()
  parked = parked + 1
  local ok, err = pcall(sleep, 1000)
  if not ok and is_cancelled(err) then unwound = unwound + 1 end
  error(err, 0)   -- go on unwinding: the task ends cancelled
end

local ms, cpu
loom.run(function()
  B.collect()
  local t0, c0
  loom.with_group(function(g)
    local spawn = g.spawn
    for _ = 1, N do spawn(g, sleeper) end
    while parked < N do loom.sleep(0) end
    loom.sleep(0)   -- the last ones reach their sleep
    c0, t0 = os.clock(), now()
    g:cancel()
  end)
  ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
end)
B.check(unwound == N, W, I, "unwound " .. unwound)
B.report(W, I, { "ms", ms, "cpu", cpu, "rss_kb", B.peak_rss() // 1024,
                 "n", N })
