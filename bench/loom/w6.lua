-- W6 deep cancel (loom): a chain of nested groups, one task per level
-- (each opens a group, spawns the next level into it and waits), D =
-- 10 000 levels; once the deepest is parked, cancel the outermost group;
-- ms until every level has unwound and the outer group has returned.
local B = require "benchlib"
local W, I = "W6", "loom"
local loom = B.need(W, I, "loom")
local D = B.env("BENCH_DEPTH", 10000)
local now = loom.now

local reached, unwound = 0, 0
local function level(k, ready)
  loom.with_group(function(g)
    if k < D then g:spawn(level, k + 1, ready) else ready:set() end
    reached = reached + 1
    local ok, e = pcall(loom.sleep, 1000)
    if not ok then unwound = unwound + 1 end
    error(e, 0)
  end)
end

local ms, cpu
loom.run(function()
  local ready = loom.event()
  local t0, c0
  loom.with_group(function(g)
    g:spawn(level, 1, ready)
    ready:wait()
    B.collect()
    c0, t0 = os.clock(), now()
    g:cancel()
  end)
  ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
end)
B.check(reached == D and unwound == D, W, I,
        ("reached %d, unwound %d"):format(reached, unwound))
B.report(W, I, { "ms", ms, "cpu", cpu, "depth", D })
