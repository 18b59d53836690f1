--- Task groups: `loom.with_group` and the `Group` it makes.
-- This file is module `loom.group`; its documentation is part of
-- the page of `loom` (config.ld merges it there).
-- @module loom
local core = require "loom.core"
local util = require "loom._util"

local type, xpcall = type, xpcall
local math_type = math.type
local argerror, typeerror = util.argerror, util.typeerror
local group_open, group_exit, msgh = core.group_open, core.group_exit,
                                     core.msgh

local M = {}

local callable = core.is_callable

--- Task groups.
-- A group's parent waits for its children: `with_group` returns only once
-- every task of the group has finished. A failure cancels the rest and is
-- raised as one `ErrorGroup`; nothing is lost.
-- @section groups

--- Run `body(g)` in the current task with a new task group `g`, then wait
-- until every task of the group has finished, and return `body`'s
-- results. Must run in a task; waiting for the children at the end is not
-- itself a checkpoint (an empty group in a cancelled scope returns
-- normally).
--
-- When a child or the body raises an error, the group cancels its other
-- children and the body (if still running), waits for all of them, then
-- raises one `loom.ErrorGroup` holding every error raised by any of them,
-- in the order they were raised (the body's included; never a
-- cancellation). It does so even for one error; a nested group's failure
-- is one entry (nested, not flattened). If the group ends only because an
-- enclosing scope was cancelled, that cancellation goes on unchanged and
-- no `ErrorGroup` is made. After `g:cancel()`, `with_group` returns
-- normally: `body`'s results if it had returned, else nothing.
-- @tparam[opt] table opts `name` (a string, shown in the `ErrorGroup`'s
-- message and as `g.name`) and `limit` (at most that many children run
-- at once: `g:spawn` and `g:start` wait for room; `math.huge`: no limit)
-- @tparam function body called with the group
-- @return the results of `body`
-- @raise `loom.ErrorGroup`; the cancellation of an enclosing scope; an
-- error containing `outside of a loom task` outside a task
-- @usage
-- loom.with_group({ name = "fetch", limit = 10 }, function(g)
--   for _, url in ipairs(urls) do g:spawn(fetch, url) end
-- end)                            -- returns once every fetch has ended
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

--- Task groups, made by `with_group`.
-- Any task holding `g` may spawn into it while `with_group` runs.
-- @type Group

--- Start `fn(...)` as a child task of the group and return its `Task`; a
-- checkpoint only when the group is at its `limit` (it then waits until
-- a child finishes). The child starts on a later scheduler turn, never
-- before `spawn` returns, and counts against the limit until it
-- finishes. Spawning into a group that is being cancelled still makes the
-- task: it runs until its first checkpoint, which raises
-- `loom.Cancelled`.
-- @function Group:spawn
-- @tparam function fn the child's function (any callable)
-- @param ... arguments for `fn`
-- @treturn Task
-- @raise an error containing `closed` once `with_group` has returned;
-- `loom.Cancelled` while it waits at the limit
-- @usage local t = g:spawn(loom.sleep, 1)

--- **Checkpoint.** Start `fn(started, ...)` as a child and wait until it
-- calls `started(...)`; returns the values it passed (a server that is
-- listening, say). Until then the child runs under the caller's cancel
-- scopes, afterwards under the group's. If the child fails before calling
-- `started`, the caller gets that error (and the group does not get it a
-- second time); if it returns or is cancelled first, the caller gets an
-- error containing `started`. Calling `started` twice raises an error
-- containing `already`. If the caller is cancelled while it waits, the
-- child is cancelled too, `start` waits for it to finish, and the
-- cancellation goes on in the caller.
-- @function Group:start
-- @tparam function fn called as `fn(started, ...)`
-- @param ... arguments for `fn`, after `started`
-- @return the values passed to `started`
-- @raise the child's error; an error containing `started`; an error
-- containing `closed` on a closed group (`fn` does not run);
-- `loom.Cancelled` (in an already cancelled scope, `fn` does not run)
-- @usage
-- local port = g:start(function(started)
--   local l = loom.tcp.listen("127.0.0.1", 0)
--   started(l.port)
--   l:serve(handler)
-- end)

--- Cancel the body and every task of the group (idempotent). The group's
-- tasks raise `loom.Cancelled` at their checkpoints; `with_group` then
-- returns normally, with `body`'s results if it had already returned,
-- else nothing. Not a checkpoint.
-- @function Group:cancel
-- @usage loom.with_group(function(g)
--   g:spawn(server)
--   run_tests()
--   g:cancel()                  -- stop the server, then return
-- end)

--- `true` once `g:cancel()` ran or a failure began cancelling the group.
-- Read-only.
-- @tfield boolean cancel_called

--- The group's `opts.name`, or `nil`. Read-only.
-- @tfield ?string name

--- @section end

-- Misuse errors raised under these functions (outside of a task) name
-- the caller's line.
core.mark_sources(M)

return M
