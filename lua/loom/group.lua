--- Task groups: `loom.with_group`.
-- @module loom.group
local core = require "loom.core"

local type, xpcall, error = type, xpcall, error
local math_type = math.type
local group_open, group_exit, msgh = core.group_open, core.group_exit,
                                     core.msgh

local M = {}

local callable = core.is_callable

--- Run `body(g)` with a new task group `g`, wait until every task of the
-- group has finished, and return `body`'s results.
--
-- When a child or the body fails, the group cancels the others, waits for
-- them, then raises one `loom.ErrorGroup` with every error.
-- @tparam[opt] table opts `name` (shown in the ErrorGroup) and `limit`
-- (at most that many children run at once)
-- @tparam function body called with the group
-- @return the results of `body`
-- @raise `loom.ErrorGroup`, or the cancellation of an enclosing scope
-- @usage
-- loom.with_group(function(g)
--   g:spawn(worker, 1)
--   g:spawn(worker, 2)
-- end)
function M.with_group(opts, body)
  if body == nil then opts, body = nil, opts end
  if not callable(body) then
    error("bad argument #" .. (opts == nil and 1 or 2) ..
          " to 'with_group' (function expected, got " .. type(body) .. ")", 2)
  end
  local name, limit
  if opts ~= nil then
    if type(opts) ~= "table" then
      error("bad argument #1 to 'with_group' (table expected, got " ..
            type(opts) .. ")", 2)
    end
    name, limit = opts.name, opts.limit
    if name ~= nil and type(name) ~= "string" then
      error("bad argument #1 to 'with_group' (opts.name must be a string)", 2)
    end
    if limit ~= nil and (math_type(limit) ~= "integer" or limit < 1) then
      error("bad argument #1 to 'with_group' (opts.limit must be a positive "
            .. "integer)", 2)
    end
  end
  local g = group_open(name, limit)
  return group_exit(g, xpcall(body, msgh, g))
end

return M
