-- W2 sleepers (peer: luv + hand-written plumbing; one uv timer per sleep).
local B = require "benchlib"
local W, I = "W2", "luv"
B.need(W, I, "luv")
local P = require "luvplumb"
local N = B.n(100000)
local now = B.clock()
local sleep = P.sleep

local done, elapsed, cpu = 0, nil, nil
B.collect()
P.spawn(function()
  local c0, t0 = os.clock(), now()
  local join = P.counter(N)
  local function task(d)
    sleep(d)
    done = done + 1
    join.done()
  end
  for i = 1, N do P.spawn(task, B.w2_delay(i)) end
  join.wait()
  elapsed, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
end)
P.run()
B.check(done == N, W, I, "done " .. done)
B.check(elapsed >= 99, W, I, "finished early")
B.report(W, I, { "over", elapsed - 100, "ms", elapsed, "cpu", cpu,
                 "rss_kb", B.peak_rss() // 1024, "n", N })
