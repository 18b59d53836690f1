-- Helpers of the specs of loom.to_thread: a leak check of the thread pool,
-- a way to run a test with another thread_limit, and marker files that
-- tell whether a worker's function ran (a worker shares no Lua value with
-- the spec, so it leaves a file behind).
local loom = require "loom"
local core = require "loom.core"
local testing = require "loom.testing"
local S = require "spec.support"

local T = {}

--- Assert that no job is left: none allocated, holding a slot or waiting
-- for one, no worker busy, and the cross-thread post not referenced (an
-- idle loom keeps the loop free to end).
function T.assert_no_jobs()
  collectgarbage()
  collectgarbage()
  local s = core.thread_stats()
  local problems = {}
  if s.jobs ~= 0 then problems[#problems + 1] = s.jobs .. " jobs alive" end
  if s.running ~= 0 then
    problems[#problems + 1] = s.running .. " jobs holding a slot"
  end
  if s.waiting ~= 0 then
    problems[#problems + 1] = s.waiting .. " jobs waiting for a slot"
  end
  if core.future_stats().referenced then
    problems[#problems + 1] = "the cross-thread post is still referenced"
  end
  if #problems > 0 then
    error("thread leak check: " .. table.concat(problems, ", "), 2)
  end
end

--- A test body run inside loom.run (real clock), then the leak checks of
-- loom.testing and of the pool.
function T.async(fn)
  return function()
    loom.run(fn)
    testing.assert_clean()
    T.assert_no_jobs()
  end
end

--- Run 'fn' with loom.thread_limit set to 'n', restoring it afterwards.
function T.with_limit(n, fn)
  local saved = loom.thread_limit
  loom.thread_limit = n
  local r = table.pack(pcall(fn))
  loom.thread_limit = saved
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

--- A fresh path for a marker file (not created).
function T.marker()
  local p = os.tmpname()
  os.remove(p)
  return p
end

--- Does the marker file exist? (removes it)
function T.marked(p)
  local f = io.open(p, "r")
  if f then
    f:close()
    os.remove(p)
    return true
  end
  return false
end

--- Worker functions (no upvalue but _ENV: they move to the workers).

--- Block the worker for 'ms' milliseconds, then return 'ms' and the
-- times (loom.now) it started and ended.
function T.block(ms)
  local c = require "loom.core"
  local t0 = c.now()
  c.thread_block(ms)
  return ms, t0, c.now()
end

--- Poll loom.thread.cancelled() every millisecond for at most 'ms'; return
-- whether it turned true, and how long the function ran (seconds).
function T.until_cancelled(ms)
  local loom_ = require "loom"
  local c = require "loom.core"
  local t0 = c.now()
  while c.now() - t0 < ms / 1000 do
    if loom_.thread.cancelled() then return true, c.now() - t0 end
    c.thread_block(1)
  end
  return false, c.now() - t0
end

--- Create the marker file 'path' (the function ran), return "ran".
function T.mark(path)
  local f = assert(io.open(path, "w"))
  f:close()
  return "ran"
end

T.S = S

return T
