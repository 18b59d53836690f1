-- W7 to_thread round trip (loom): one task calls loom.to_thread on a
-- trivial function N times in a row (argument in, result out, checked);
-- then C tasks at once, N round trips in all (the pool's throughput with
-- thread_limit workers). Reports microseconds per round trip: `us`
-- (sequential) and `us_conc` (concurrent). No limit program: the number
-- is the cost of a hand-off to a worker thread and back (two context
-- switches, one uv_async_t wake-up, copying a small value each way).
-- N = argv[1] / BENCH_N (default 100000), C = BENCH_C (default 8).
local B = require "benchlib"
local W, I = "W7", "loom"
local loom = B.need(W, I, "loom")
if type(loom.to_thread) ~= "function" then
  B.fail(W, I, "loom.to_thread not available yet")
end
local N = B.n(100000)
local C = B.env("BENCH_C", 8)
local now, to_thread = loom.now, loom.to_thread

local function job(x) return x + 1 end

local us, cpu, us_conc, sum
loom.run(function()
  for i = 1, 100 do to_thread(job, i) end       -- workers up, caches warm
  B.collect()
  local c0, t0 = os.clock(), now()
  sum = 0
  for i = 1, N do sum = sum + to_thread(job, i) end
  us = (now() - t0) * 1e6 / N
  cpu = (os.clock() - c0) * 1e6 / N
  local t1 = now()
  loom.with_group(function(g)
    for c = 1, C do
      g:spawn(function()
        for i = c, N, C do assert(to_thread(job, i) == i + 1) end
      end)
    end
  end)
  us_conc = (now() - t1) * 1e6 / N
end)
B.check(sum == N * (N + 1) // 2 + N, W, I, "sum " .. tostring(sum))
B.report(W, I, { "us", us, "cpu", cpu, "us_conc", us_conc, "n", N,
                 "limit", loom.thread_limit })
