-- W3 cancel storm (peer: luv + hand-written plumbing): N coroutines each
-- in a 1000 s sleep (own uv timer); cancel stops and closes every timer
-- and resumes the sleeper with "cancelled", which then returns. ms from
-- the cancel until every task has returned and every timer is closed.
local B = require "benchlib"
local W, I = "W3", "luv"
B.need(W, I, "luv")
local P = require "luvplumb"
local N = B.n(100000)
local now = B.clock()

local slots, parked, unwound = {}, 0, 0
local t0, c0
B.collect()
P.spawn(function()
  local function task(i)
    local slot = {}
    slots[i] = slot
    parked = parked + 1
    if P.sleep(1000000, slot) == "cancelled" then unwound = unwound + 1 end
  end
  for i = 1, N do P.spawn(task, i) end
  while parked < N do P.yield_now() end
  c0, t0 = os.clock(), now()
  for i = 1, N do P.cancel_sleep(slots[i]) end
end)
P.run()
local ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
B.check(unwound == N, W, I, "unwound " .. unwound)
B.report(W, I, { "ms", ms, "cpu", cpu, "rss_kb", B.peak_rss() // 1024,
                 "n", N })
