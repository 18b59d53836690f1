-- W1 spawn-join (loom): spawn N tasks in one group; each yields once
-- (loom.checkpoint) and returns its index; join all; check the sum.
local B = require "benchlib"
local W, I = "W1", "loom"
local loom = B.need(W, I, "loom")
local N = B.n(100000)
local checkpoint, now = loom.checkpoint, loom.now

local function worker(i)
  checkpoint()
  return i
end

local ms, cpu, sum
loom.run(function()
  B.collect()
  local c0, t0 = os.clock(), now()
  local tasks = {}
  loom.with_group(function(g)
    local spawn = g.spawn
    for i = 1, N do tasks[i] = spawn(g, worker, i) end
  end)
  sum = 0
  local result = tasks[1].result    -- hoisted, as spawn (and raw's resume)
  for i = 1, N do sum = sum + result(tasks[i]) end
  ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
end)
B.check(sum == N * (N + 1) // 2, W, I, "sum " .. tostring(sum))
B.report(W, I, { "ms", ms, "cpu", cpu, "n", N })
