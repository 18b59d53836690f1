-- W4 loopback echo (peer: luv + hand-written plumbing): server handler
-- coroutines and client coroutines, read_exactly over read_start, write
-- waiting for its callback; TCP_NODELAY on both sides.
local B = require "benchlib"
local W, I = "W4", "luv"
local uv = B.need(W, I, "luv")
local P = require "luvplumb"
local C, R = B.env("BENCH_C", 100), B.env("BENCH_R", 1000)
local now = B.clock()
local MSG = string.rep("x", 64)

local server = uv.new_tcp()
assert(server:bind("127.0.0.1", 0))
local port = server:getsockname().port
local conns = {}
assert(server:listen(1024, function(err)
  assert(not err, err)
  local s = uv.new_tcp()
  server:accept(s)
  s:nodelay(true)
  conns[#conns + 1] = s
  P.spawn(function()
    local r = P.reader(s)
    while true do
      local m = r.read_exactly(64)
      if not m then break end
      P.write(s, m)
    end
  end)
end))

local rounds, ms, cpu = 0, nil, nil
P.spawn(function()
  local c0, t0 = os.clock(), now()
  local join = P.counter(C)
  for _ = 1, C do
    P.spawn(function()
      local s = uv.new_tcp()
      local co = coroutine.running()
      s:connect("127.0.0.1", port, function(err)
        assert(not err, err)
        P.ready(co)
      end)
      coroutine.yield()
      s:nodelay(true)
      local r = P.reader(s)
      for _ = 1, R do
        P.write(s, MSG)
        local m = r.read_exactly(64)
        assert(m == MSG, "bad echo")
        rounds = rounds + 1
      end
      s:close()
      join.done()
    end)
  end
  join.wait()
  ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
  server:close()
  for _, s in ipairs(conns) do if not s:is_closing() then s:close() end end
end)
P.run()
B.check(rounds == C * R, W, I, "rounds " .. rounds)
B.report(W, I, { "rtps", rounds / (ms / 1000), "ms", ms, "cpu", cpu, "c", C, "r", R })
