-- W2 sleepers (peer: cqueues): N coroutines, cqueues.sleep(d_i).
local B = require "benchlib"
local W, I = "W2", "cqueues"
local cqueues = B.need(W, I, "cqueues")
local N = B.n(100000)
local now = cqueues.monotime
local sleep = cqueues.sleep

local done = 0
local function worker(s)
  sleep(s)
  done = done + 1
end

B.collect()
local c0, t0 = os.clock(), now()
local cq = cqueues.new()
for i = 1, N do cq:wrap(worker, B.w2_delay(i) / 1000) end
local ok, err = cq:loop()
if not ok then B.fail(W, I, err) end
local elapsed, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
B.check(done == N, W, I, "done " .. done)
B.check(elapsed >= 99, W, I, "finished early")
B.report(W, I, { "over", elapsed - 100, "ms", elapsed, "cpu", cpu,
                 "rss_kb", B.peak_rss() // 1024, "n", N })
