--- Events: a flag that tasks can wait for.
-- `loom.event()` makes an `Event`, initially not set. `ev:set()` wakes
-- every waiter; waiters that arrive while it is set return at once.
-- @module loom.event
local core = require "loom.core"

local M = {}

--- Make a new event, not set.
-- @treturn Event
-- @usage
-- local ev = loom.event()
-- g:spawn(function() ev:wait(); print("go") end)
-- ev:set()
-- @function event
M.event = core.event

--- Event methods.
-- @type Event

--- Set the flag and wake every waiting task (idempotent). Not a
-- checkpoint; also usable outside tasks.
-- @function Event:set

--- Reset the flag. Tasks already woken by `set` still return.
-- @function Event:clear

--- `true` while the flag is set.
-- @treturn boolean
-- @function Event:is_set

--- Checkpoint. Wait until the event is set (returns at once if it is).
-- @raise `loom.Cancelled` if the task is cancelled meanwhile
-- @function Event:wait

return M
