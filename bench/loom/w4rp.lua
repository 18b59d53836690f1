-- W4R loopback echo with reuseport (loom): P server processes (this
-- program run with --serve PORT) listen on one port with
-- tcp.listen{ reuseport = true }, so the kernel spreads the connections
-- over them; this process runs C client tasks doing R round trips of 64
-- bytes each (as W4). Round trips per second from the first connect to
-- the last. P = 2 here; bench/loom/w4rp1.lua runs it with P = 1, the
-- figure the 2-process one is a ratio of (on a 2-core machine the
-- clients take a core too). C = BENCH_C (100), R = BENCH_R (1000).
local B = require "benchlib"
local P = W4R_P or 2
local W, I = "W4R", P == 1 and "p1" or "loom"
local loom = B.need(W, I, "loom")
local C, R = B.env("BENCH_C", 100), B.env("BENCH_R", 1000)
local MSG = string.rep("x", 64)

if arg and arg[1] == "--serve" then            -- a server process
  loom.run(function()
    local l = loom.tcp.listen("127.0.0.1", tonumber(arg[2]),
                              { reuseport = true })
    io.stdout:write("ready\n")
    io.stdout:flush()
    loom.with_group(function(g)
      g:spawn(function()
        l:serve(function(s)
          while true do
            local m = s:read_exactly(64)
            if m == nil then return end
            s:write(m)
          end
        end)
      end)
      loom.signal.wait("SIGTERM")
      g:cancel()
    end)
    l:close()
  end)
  os.exit(0)
end

local rounds, ms, cpu = 0, nil, nil
local ok, err = pcall(loom.run, function()
  local probe = loom.tcp.listen("127.0.0.1", 0)   -- a free port
  local port = probe.port
  probe:close()
  local procs = {}
  for i = 1, P do
    procs[i] = loom.process.spawn{
      "lua5.4", "bench/loom/w4rp.lua", "--serve", tostring(port),
      stdout = "pipe", env = {
        LUA_PATH = os.getenv("LUA_PATH"), LUA_CPATH = os.getenv("LUA_CPATH"),
        PATH = os.getenv("PATH"),
      } }
    assert(procs[i].stdout:read_line() == "ready", "a server did not start")
  end
  local function client()
    local s = loom.tcp.connect("127.0.0.1", port)
    for _ = 1, R do
      s:write(MSG)
      if s:read_exactly(64) ~= MSG then error("bad echo") end
      rounds = rounds + 1
    end
    s:close()
  end
  local c0, t0 = os.clock(), loom.now()
  loom.with_group(function(g)
    for _ = 1, C do g:spawn(client) end
  end)
  ms, cpu = (loom.now() - t0) * 1000, (os.clock() - c0) * 1000
  for _, p in ipairs(procs) do
    p:kill("SIGTERM")
    p:wait()
    p.stdout:close()
  end
end)
if not ok then B.fail(W, I, err) end
B.check(rounds == C * R, W, I, "rounds " .. rounds)
B.report(W, I, { "rtps", rounds / (ms / 1000), "ms", ms, "cpu", cpu,
                 "c", C, "r", R, "procs", P })
