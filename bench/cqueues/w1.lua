-- W1 spawn-join (peer: cqueues): N cq:wrap coroutines, each yields once
-- (cqueues.sleep(0)) and stores its index; the loop ends when all have.
local B = require "benchlib"
local W, I = "W1", "cqueues"
local cqueues = B.need(W, I, "cqueues")
local N = B.n(100000)
local now = cqueues.monotime
local sleep = cqueues.sleep

local results = {}
local function worker(i)
  sleep(0)
  results[i] = i
end

B.collect()
local c0, t0 = os.clock(), now()
local cq = cqueues.new()
for i = 1, N do cq:wrap(worker, i) end
local ok, err = cq:loop()
if not ok then B.fail(W, I, err) end
local sum = 0
for i = 1, N do sum = sum + results[i] end
local ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
B.check(sum == N * (N + 1) // 2, W, I, "sum " .. sum)
B.report(W, I, { "ms", ms, "cpu", cpu, "n", N })
