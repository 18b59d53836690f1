-- W2 sleepers (loom): N tasks, task i sleeps d_i ms (bench/README.md); join; ms
-- beyond the ideal 100 ms, and peak RSS.
local B = require "benchlib"
local W, I = "W2", "loom"
local loom = B.need(W, I, "loom")
local N = B.n(100000)
local sleep, now = loom.sleep, loom.now

local done = 0
local function sleeper(s)
  sleep(s)
  done = done + 1
end

local elapsed, cpu
loom.run(function()
  B.collect()
  local c0, t0 = os.clock(), now()
  loom.with_group(function(g)
    local spawn = g.spawn
    for i = 1, N do spawn(g, sleeper, B.w2_delay(i) / 1000) end
  end)
  elapsed, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
end)
B.check(done == N, W, I, "done " .. done)
B.check(elapsed >= 100, W, I, "finished early")
B.report(W, I, { "over", elapsed - 100, "ms", elapsed, "cpu", cpu,
                 "rss_kb", B.peak_rss() // 1024, "n", N })
