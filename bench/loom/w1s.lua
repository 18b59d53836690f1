-- W1S steady spawn-join (loom): rounds of B = 1000 tasks spawned into one
-- group, each yielding once (loom.checkpoint) and returning its index;
-- join, sum; N / B rounds after one round of warm-up, in one loom.run;
-- ms for the N tasks. The regime of a long-running program: the
-- coroutines of finished tasks are reused by the next spawns.
local B = require "benchlib"
local W, I = "W1S", "loom"
local loom = B.need(W, I, "loom")
local N = B.n(100000)
local BATCH = B.env("BENCH_BATCH", 1000)
local checkpoint, now = loom.checkpoint, loom.now

local function worker(i)
  checkpoint()
  return i
end

local function round()
  local tasks = {}
  loom.with_group(function(g)
    local spawn = g.spawn
    for i = 1, BATCH do tasks[i] = spawn(g, worker, i) end
  end)
  local sum, result = 0, tasks[1].result
  for i = 1, BATCH do sum = sum + result(tasks[i]) end
  return sum
end

local ms, cpu, ok = 0, 0, true
local rounds = math.max(1, N // BATCH)
loom.run(function()
  round()                                -- warm-up
  B.collect()
  local c0, t0 = os.clock(), now()
  for _ = 1, rounds do ok = ok and round() == BATCH * (BATCH + 1) // 2 end
  ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
end)
B.check(ok, W, I, "wrong sum")
B.report(W, I, { "ms", ms, "cpu", cpu, "n", rounds * BATCH })
