-- The end of a Lua state with worker threads (README, "Blocking work:
-- to_thread"): in a child lua5.4, lua_close (the end of the script, or
-- os.exit(code, true)) with a job still running returns at once and the
-- process exits cleanly; idle workers are joined. Under make asan /
-- make valgrind the child runs with the same checks. (spec/c/
-- test_thread.c also watches the worker end after lua_close.)
local loom = require "loom"

-- Run Lua 'code' in a child lua5.4 with the in-tree build, without a
-- shell (so that it also works under make tsan, whose runtime crashes
-- /bin/sh); returns its exit code and its output (stdout and stderr).
local function run_lua(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local build = os.getenv("LOOM_BUILD") or "build"
  local r = loom.run(function()
    return loom.timeout(30, function()
      return loom.process.run {
        "env", "LUA_PATH=./lua/?.lua;./lua/?/init.lua;;",
        "LUA_CPATH=./" .. build .. "/?.so;;", "lua5.4", path,
      }
    end)
  end)
  os.remove(path)
  return r.code, r.stdout .. r.stderr
end

-- Start a job running 'job' (Lua source of a function), wait until a
-- worker runs it, then end the script with 'ending'.
local function script(job, ending)
  return ([[
local loom = require "loom"
loom.start(function() return loom.to_thread(%s) end)
loom.run(function()
  while loom.core.thread_stats().busy == 0 do loom.sleep(0.005) end
end)
io.stdout:write("job running\n")
%s
]]):format(job, ending or "")
end

local POLLING = [[function()
  local l, c = require "loom", require "loom.core"
  local t0 = c.now()
  while not l.thread.cancelled() and c.now() - t0 < 20 do c.thread_block(2) end
end]]

local STUBBORN = [[function()
  require("loom.core").thread_block(20000)
end]]

describe("teardown with worker threads", function()
  it("the script ends while a job runs: the process exits at once",
    function()
      local t0 = loom.now()
      local status, out = run_lua(script(POLLING))
      assert.equal(0, status, out)
      assert.matches("job running", out)
      assert.is_true(loom.now() - t0 < 10, out)
    end)

  it("a job that never looks at cancelled() does not hold up the exit",
    function()
      local t0 = loom.now()
      local status, out = run_lua(script(STUBBORN))
      assert.equal(0, status, out)
      assert.is_true(loom.now() - t0 < 10, out)
    end)

  it("os.exit(code, true) closes the state with a job running", function()
    local status, out = run_lua(script(POLLING, "os.exit(3, true)"))
    assert.equal(3, status, out)
  end)

  it("idle workers are joined at the end of the script", function()
    local status, out = run_lua([[
local loom = require "loom"
loom.run(function()
  loom.with_group(function(g)
    for i = 1, 16 do g:spawn(loom.to_thread, function(x) return x end, i) end
  end)
end)
print("workers", loom.core.thread_stats().workers)
]])
    assert.equal(0, status, out)
    assert.matches("workers%s+%d", out)
  end)
end)
