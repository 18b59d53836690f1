-- W1S steady spawn-join, the limit: raw coroutines in rounds of B = 1000
-- (create, resume to the one yield, resume to the end, sum the indices),
-- N / B rounds after one round of warm-up; ms for the N tasks. Raw
-- coroutines cannot be reused: every round creates B new ones.
local B = require "benchlib"
local W, I = "W1S", "raw"
local N = B.n(100000)
local BATCH = B.env("BENCH_BATCH", 1000)
local now = B.clock()
local create, resume, yield = coroutine.create, coroutine.resume,
                              coroutine.yield

local function worker(i)
  yield()
  return i
end

local function round()
  local cos = {}
  for i = 1, BATCH do cos[i] = create(worker) end
  for i = 1, BATCH do resume(cos[i], i) end
  local sum = 0
  for i = 1, BATCH do
    local _, v = resume(cos[i])
    sum = sum + v
  end
  return sum
end

round()                                  -- warm-up
B.collect()
local rounds = math.max(1, N // BATCH)
local ok = true
local c0, t0 = os.clock(), now()
for _ = 1, rounds do ok = ok and round() == BATCH * (BATCH + 1) // 2 end
local ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
B.check(ok, W, I, "wrong sum")
B.report(W, I, { "ms", ms, "cpu", cpu, "n", rounds * BATCH })
