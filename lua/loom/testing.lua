--- Test support: a virtual clock and leak checks (for specs; documented,
-- but not part of the runtime API). `require "loom.testing"`; `loom`
-- does not export it.
-- @module loom.testing
local core = require "loom.core"
local loom = require "loom"

local M = {}

--- Run `fn(...)` under `loom.run` with the virtual clock: time jumps to the
-- next deadline as soon as every task is blocked (Trio's autojump clock),
-- so timing logic runs at once. Returns `fn`'s results or raises its
-- error, as `loom.run`.
-- @tparam function fn the root task's function
-- @param ... arguments for `fn`
-- @return the results of `fn`
-- @raise what `loom.run` raises
-- @usage testing.run(function()
--   local t0 = loom.now()
--   loom.sleep(3600)                -- takes no real time
--   assert(loom.now() - t0 >= 3600)
-- end)
function M.run(fn, ...)
  core.set_virtual_clock(true)
  local r = table.pack(pcall(loom.run, fn, ...))
  core.set_virtual_clock(false)
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

--- Counters of the native core: live tasks, queued timers, anchors.
-- @treturn table the counters `tasks`, `timers` (queued deadlines),
-- `timer_entries` (entries of the deadline heap, cleared ones not yet
-- dropped included), `anchors`, `pooled`, `stashed`, and the booleans
-- `tree_empty`, `ready_empty`
function M.stats()
  return core.stats()
end

--- Raise an error naming what leaked if anything is still alive. That is:
-- tasks, timers, anchored objects, stashed errors, scopes, ready tasks,
-- open or closing I/O handles. It runs two full garbage collections first.
-- @raise an error starting with `loom leak check:` that names the leaks
-- @usage after_each(function() testing.assert_clean() end)
function M.assert_clean()
  collectgarbage()
  collectgarbage()
  local s = core.stats()
  local problems = {}
  if s.tasks ~= 0 then problems[#problems + 1] = s.tasks .. " live tasks" end
  if s.timers ~= 0 then problems[#problems + 1] = s.timers .. " timers" end
  if s.anchors ~= 0 then
    problems[#problems + 1] = s.anchors .. " anchored objects"
  end
  if s.stashed ~= 0 then
    problems[#problems + 1] = s.stashed .. " stashed errors"
  end
  if not s.tree_empty then problems[#problems + 1] = "scopes left in tree" end
  if not s.ready_empty then problems[#problems + 1] = "ready tasks left" end
  if core.io_stats then
    local io = core.io_stats()
    if io.open ~= 0 then
      problems[#problems + 1] = io.open .. " open I/O handles"
    end
    if io.closing ~= 0 then
      problems[#problems + 1] = io.closing .. " I/O handles still closing"
    end
  end
  if #problems > 0 then
    error("loom leak check: " .. table.concat(problems, ", "), 2)
  end
end

return M
