-- W1 spawn-join, the limit: raw Lua coroutines, the bare minimum a task
-- needs (create, resume to its one yield, resume to its end); check the
-- sum of the returned indices.
local B = require "benchlib"
local W, I = "W1", "raw"
local N = B.n(100000)
local now = B.clock()
local create, resume, yield = coroutine.create, coroutine.resume,
                              coroutine.yield

local function worker(i)
  yield()
  return i
end

B.collect()
local c0, t0 = os.clock(), now()
local cos = {}
for i = 1, N do cos[i] = create(worker) end
for i = 1, N do resume(cos[i], i) end
local sum = 0
for i = 1, N do
  local _, v = resume(cos[i])
  sum = sum + v
end
local ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
B.check(sum == N * (N + 1) // 2, W, I, "sum " .. sum)
B.report(W, I, { "ms", ms, "cpu", cpu, "n", N })
