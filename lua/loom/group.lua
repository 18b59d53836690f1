--- Task groups: `loom.with_group`.
-- @module loom.group
local core = require "loom.core"
local util = require "loom._util"

local type, xpcall = type, xpcall
local math_type = math.type
local argerror, typeerror = util.argerror, util.typeerror
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
-- (at most that many children run at once; `math.huge`: no limit)
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
    typeerror(opts == nil and 1 or 2, "with_group", "function", body)
  end
  local name, limit
  if opts ~= nil then
    if type(opts) ~= "table" then typeerror(1, "with_group", "table", opts) end
    name, limit = opts.name, opts.limit
    if name ~= nil and type(name) ~= "string" then
      argerror(1, "with_group", "opts.name must be a string")
    end
    if limit == math.huge then
      limit = nil                        -- no limit, as loom.channel(math.huge)
    elseif limit ~= nil and (math_type(limit) ~= "integer" or limit < 1) then
      argerror(1, "with_group", "opts.limit must be a positive integer or "
               .. "math.huge")
    end
  end
  local g = group_open(name, limit)
  return group_exit(g, xpcall(body, msgh, g))
end

-- Misuse errors raised under these functions (outside of a task) name
-- the caller's line.
core.mark_sources(M)

return M
