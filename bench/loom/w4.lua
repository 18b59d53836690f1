-- W4 loopback echo (loom): one process; loom.tcp.listen on 127.0.0.1,
-- l:serve(handler) echoes 64-byte messages; C client tasks each connect
-- and do R round trips (write 64 bytes, read_exactly 64). TCP_NODELAY is
-- loom's default. Round trips per second from before the first connect
-- until the last client is done. C = BENCH_C (100), R = BENCH_R (1000).
local B = require "benchlib"
local W, I = "W4", "loom"
local loom = B.need(W, I, "loom")
if type(loom.tcp) ~= "table" or not loom.tcp.listen or
   not loom.tcp.connect then
  B.fail(W, I, "loom.tcp.listen/connect not available yet")
end
local C, R = B.env("BENCH_C", 100), B.env("BENCH_R", 1000)
local now = loom.now
local MSG = string.rep("x", 64)

local rounds, ms, cpu = 0, nil, nil
local function handler(s)
  while true do
    local m = s:read_exactly(64)
    if m == nil then return end
    s:write(m)
  end
end

local function client(port)
  local s = loom.tcp.connect("127.0.0.1", port)
  for _ = 1, R do
    s:write(MSG)
    local m = s:read_exactly(64)
    if m ~= MSG then error("bad echo: " .. tostring(m and #m)) end
    rounds = rounds + 1
  end
  s:close()
end

local ok, err = pcall(loom.run, function()
  local l = loom.tcp.listen("127.0.0.1", 0)
  loom.with_group(function(outer)
    outer:spawn(function() l:serve(handler) end)
    local c0, t0 = os.clock(), now()
    loom.with_group(function(g)
      for _ = 1, C do g:spawn(client, l.port) end
    end)
    ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
    outer:cancel()
  end)
  l:close()
end)
if not ok then B.fail(W, I, err) end
B.check(rounds == C * R, W, I, "rounds " .. rounds)
B.report(W, I, { "rtps", rounds / (ms / 1000), "ms", ms, "cpu", cpu, "c", C, "r", R })
