-- Shared helpers of the specs: run a test body as a loom task and check
-- that nothing leaked afterwards (no live task, timer, anchor, scope).
local loom = require "loom"
local testing = require "loom.testing"

local S = {}

--- A busted test body that runs `fn` inside loom.run (real clock), then
-- runs the leak check.
function S.async(fn)
  return function()
    loom.run(fn)
    testing.assert_clean()
  end
end

--- The same under the virtual clock: sleeps take no real time.
function S.vasync(fn)
  return function()
    testing.run(fn)
    testing.assert_clean()
  end
end

--- An event recorder: rec("x") appends, rec.list is the array.
function S.recorder()
  local list = {}
  return setmetatable({ list = list }, {
    __call = function(_, v) list[#list + 1] = v end,
  })
end

--- pcall that returns the error value (or fails the test if none).
function S.catch(fn, ...)
  local ok, e = pcall(fn, ...)
  assert(not ok, "expected an error, got success")
  return e
end

--- Run Lua `code` in a child process with the in-tree build (for specs
-- whose failure may crash or hang the process, or that need a fresh
-- state); returns its exit status (124: killed by the timeout, 139: a
-- segmentation fault) and its output (stdout and stderr).
function S.run_lua(code, secs)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local cmd = ("LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' "
               .. "LUA_CPATH='./%s/?.so;;' timeout %d lua5.4 %s 2>&1; "
               .. "echo \"exit=$?\""):format(os.getenv("LOOM_BUILD")
                                             or "build", secs or 10, path)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  os.remove(path)
  return tonumber(out:match("exit=(%d+)%s*$")), out
end

--- Run shell command `cmd` (with a timeout of `secs`, default 10 s);
-- returns its exit status and its output (stdout and stderr).
function S.run_cmd(cmd, secs)
  local p = assert(io.popen(("timeout %d %s 2>&1; echo \"exit=$?\""):format(
                            secs or 10, cmd)))
  local out = p:read("a")
  p:close()
  return tonumber(out:match("exit=(%d+)%s*$")), out
end

--- Assert that at least `lo` seconds and less than `lo + slack` (default
-- 0.25) passed since `t0` on loom's clock (exact lower bound, loose upper
-- bound); returns the duration.
function S.took(t0, lo, slack)
  local dt = loom.now() - t0
  assert(dt >= lo - 1e-9, ("took %.6f s, less than %.6f s"):format(dt, lo))
  assert(dt < lo + (slack or 0.25),
         ("took %.6f s, expected about %.6f s"):format(dt, lo))
  return dt
end

--- Let every ready task run until it blocks again (n scheduler turns,
-- default 5). Inside a task.
function S.settle(n)
  for _ = 1, n or 5 do loom.sleep(0) end
end

--- Does the running task hold lock 'lk'? notify(0) on a condition over it
-- checks ownership and does nothing else (it is not a checkpoint).
function S.holds(lk)
  local c = loom.condition(lk)
  return (pcall(c.notify, c, 0))
end

return S
