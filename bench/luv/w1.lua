-- W1 spawn-join (peer: luv + hand-written coroutine plumbing).
local B = require "benchlib"
local W, I = "W1", "luv"
B.need(W, I, "luv")
local P = require "luvplumb"
local N = B.n(100000)
local now = B.clock()
local yield_now = P.yield_now

local results, sum, ms, cpu = {}, 0, nil, nil
local c0, t0
B.collect()
P.spawn(function()
  c0, t0 = os.clock(), now()
  local join = P.counter(N)
  local done = join.done
  local function task(i)
    yield_now()
    results[i] = i
    done()
  end
  for i = 1, N do P.spawn(task, i) end
  join.wait()
  for i = 1, N do sum = sum + results[i] end
  ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
end)
P.run()
B.check(sum == N * (N + 1) // 2, W, I, "sum " .. sum)
B.report(W, I, { "ms", ms, "cpu", cpu, "n", N })
