-- Steady state (bench/README.md): run W1 ten times in one process (one loom.run
-- each) and compare RSS and the Lua heap after round 1 and after round 10,
-- after full collections. No per-task cost may stay behind.
local B = require "benchlib"
local W, I = "W1x10", "loom"
local loom = B.need(W, I, "loom")
local core = require "loom.core"
local N = B.n(100000)
local checkpoint = loom.checkpoint

local function worker(i)
  checkpoint()
  return i
end

local function round()
  return loom.run(function()
    local tasks = {}
    loom.with_group(function(g)
      for i = 1, N do tasks[i] = g:spawn(worker, i) end
    end)
    local sum = 0
    for i = 1, N do sum = sum + tasks[i]:result() end
    return sum
  end)
end

local rss, heap = {}, {}
for r = 1, 10 do
  local sum = round()
  B.check(sum == N * (N + 1) // 2, W, I, "sum " .. sum)
  B.collect()
  rss[r], heap[r] = B.rss(), collectgarbage("count")
end
local st = core.stats()
local grow = rss[10] - rss[1]
local ok = grow <= math.max(1024 * 1024, rss[1] // 50) and
           heap[10] - heap[1] < 64 and st.tasks == 0 and st.anchors == 0
B.report(W, I, { "rss1_kb", rss[1] // 1024, "rss10_kb", rss[10] // 1024,
                 "heap1_kb", heap[1], "heap10_kb", heap[10],
                 "anchors", st.anchors, "tasks", st.tasks,
                 "steady", ok and "PASS" or "MISS" })
