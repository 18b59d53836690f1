-- Helpers of the I/O specs (stream, tcp, pipe, process, signal,
-- interrupt): a test body runs in loom.run (real clock), then the leak
-- checks: loom's own (spec.support) plus no open I/O handle and no file
-- descriptor more than before the test (/proc/self/fd).
local loom = require "loom"
local core = require "loom.core"
local testing = require "loom.testing"

local M = {}

local function pid()
  local f = assert(io.open("/proc/self/stat"))
  local s = f:read("l")
  f:close()
  return tonumber(s:match("^(%d+)"))
end
M.pid = pid()

--- Number of open file descriptors of this process (/proc/self/fd).
function M.fd_count()
  return core.io_stats().fds
end

--- The environment of the in-tree build, for child lua5.4 processes.
M.env = {
  LUA_PATH = "./lua/?.lua;./lua/?/init.lua;;",
  LUA_CPATH = "./" .. (os.getenv("LOOM_BUILD") or "build") .. "/?.so;;",
  PATH = os.getenv("PATH"),
  -- Sanitizer runs (make asan) preload their runtime.
  LD_PRELOAD = os.getenv("LD_PRELOAD"),
  ASAN_OPTIONS = os.getenv("ASAN_OPTIONS"),
}

--- Check an argument error and where it points (see threadpool_support).
M.argerror = require("spec.threadpool_support").argerror

--- A busted body: `fn` in loom.run, then the leak checks.
function M.async(fn)
  return function()
    collectgarbage()
    collectgarbage()
    local before = M.fd_count()
    loom.run(fn)
    testing.assert_clean()
    local st = core.io_stats()
    assert(st.open == 0, "I/O leak check: " .. st.open ..
           " handles still open")
    local after = M.fd_count()
    assert(after == before, ("fd leak check: %d file descriptors before, "
                             .. "%d after"):format(before, after))
  end
end

--- Is process `pid` gone (not running, not a zombie)?
function M.reaped(p)
  local f = io.open("/proc/" .. p .. "/stat")
  if not f then return true end
  f:close()
  return false
end

--- State letter of process `pid` ("R", "S", "Z"...), or nil if gone.
function M.proc_state(p)
  local f = io.open("/proc/" .. p .. "/stat")
  if not f then return nil end
  local s = f:read("l")
  f:close()
  return s:match("^%d+ %b() (%a)")
end

--- A connected pair of TCP streams over 127.0.0.1: client, server side.
function M.tcp_pair()
  local l = loom.tcp.listen("127.0.0.1", 0)
  local c = loom.tcp.connect("127.0.0.1", l.port)
  local s = l:accept()
  l:close()
  return c, s
end

--- A fresh path for a Unix socket.
local seq = 0
function M.sock_path()
  seq = seq + 1
  return ("/tmp/loom-spec-%d-%d.sock"):format(M.pid, seq)
end

--- Send signal `sig` ("USR1") to this process, from a child `kill`.
function M.signal_self(sig)
  local r = loom.process.run{ "kill", "-" .. sig, tostring(M.pid) }
  assert(r.code == 0, "kill failed: " .. tostring(r.stderr))
end

-- Warm up: the loop and libuv's process-wide descriptors (signal pipes,
-- the spare descriptor of listeners) exist before the first count.
loom.run(function()
  local c, s = M.tcp_pair()
  c:close(); s:close()
  loom.process.run{ "true" }
end)

return M
