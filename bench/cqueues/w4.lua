-- W4 loopback echo (peer: cqueues): a listener coroutine accepts and
-- wraps one echo handler per connection; C client coroutines each do R
-- round trips of 64 bytes. Binary, unbuffered output; TCP_NODELAY.
local B = require "benchlib"
local W, I = "W4", "cqueues"
local cqueues = B.need(W, I, "cqueues")
local socket = B.need(W, I, "cqueues.socket")
local C, R = B.env("BENCH_C", 100), B.env("BENCH_R", 1000)
local now = cqueues.monotime
local MSG = string.rep("x", 64)

local cq = cqueues.new()
local srv = socket.listen { host = "127.0.0.1", port = 0, nodelay = true,
                            sin_nodelay = true }
assert(srv:listen())
local _, _, port = srv:localname()
local rounds, ms, cpu, done = 0, nil, nil, 0
local t0, c0

cq:wrap(function()
  for con in srv:clients() do
    cq:wrap(function()
      con:setmode("b", "bn")
      while true do
        local m = con:read(64)
        if not m then break end
        assert(con:write(m))
      end
      con:close()
    end)
  end
end)

cq:wrap(function()
  c0, t0 = os.clock(), now()
  for _ = 1, C do
    cq:wrap(function()
      local s = socket.connect { host = "127.0.0.1", port = port,
                                 nodelay = true, sin_nodelay = true }
      s:setmode("b", "bn")
      for _ = 1, R do
        assert(s:write(MSG))
        local m = s:read(64)
        assert(m == MSG, "bad echo")
        rounds = rounds + 1
      end
      s:close()
      done = done + 1
      if done == C then
        ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
        srv:close()
      end
    end)
  end
end)

local ok, err = cq:loop()
if not ok and ms == nil then B.fail(W, I, err) end
B.check(rounds == C * R, W, I, "rounds " .. rounds)
B.report(W, I, { "rtps", rounds / (ms / 1000), "ms", ms, "cpu", cpu, "c", C, "r", R })
