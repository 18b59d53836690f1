-- W5 parked memory (loom): N tasks each waiting on one loom.event that is
-- then set; (peak RSS - RSS before) / N in bytes per task.
-- Until loom.event exists, the tasks wait in t:join() of one gate task
-- instead (the same parking lot; the line then says via=join).
local B = require "benchlib"
local W, I = "W5", "loom"
local loom = B.need(W, I, "loom")
local N = B.n(100000)
local now = loom.now
local via = loom.event and "event" or "join"
if os.getenv("BENCH_W5_VIA") == "join" then via = "join" end

local parked, woken = 0, 0
local before, parked_rss, ms
loom.run(function()
  B.collect()
  before = B.rss()
  local t0 = now()
  loom.with_group(function(g)
    local wait, set
    if via == "event" then
      local ev = loom.event()
      wait = function() parked = parked + 1; ev:wait(); woken = woken + 1 end
      set = function() ev:set() end
    else
      local gate_open = false
      local gate = g:spawn(function()
        while not gate_open do loom.sleep(0.001) end
      end)
      wait = function() parked = parked + 1; gate:join(); woken = woken + 1 end
      set = function() gate_open = true end
    end
    local spawn = g.spawn
    for _ = 1, N do spawn(g, wait) end
    while parked < N do loom.sleep(0) end
    parked_rss = B.rss()
    set()
  end)
  ms = (now() - t0) * 1000
end)
B.check(woken == N, W, I, "woken " .. woken)
local peak = B.peak_rss()
B.report(W, I, { "bpt", (peak - before) / N,
                 "parked_bpt", (parked_rss - before) / N, "ms", ms,
                 "n", N, "via", via })
