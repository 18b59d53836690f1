--- Events: a flag that tasks can wait for (`loom.event`).
-- This file is module `loom.event`; its documentation is part of
-- the page of `loom` (config.ld merges it there).
-- @module loom
local core = require "loom.core"

local M = {}

--- Events.
-- `loom.event()` makes an `Event`, initially not set. `ev:set()` wakes
-- every waiter, in the order they came; waiters that arrive while it is
-- set return at once.
-- Like every synchronisation object, its waiters queue in FIFO order, a
-- waiter cancelled while it waits leaves the queue and takes nothing, and
-- its blocking methods are checkpoints even when they complete at once
-- (then without yielding to other tasks); the other methods are not
-- checkpoints and also work outside tasks.
-- @section events

--- Make a new event, not set. Not a checkpoint.
-- @treturn Event
-- @usage
-- local ev = loom.event()
-- g:spawn(function() ev:wait(); print("go") end)
-- ev:set()
-- @function event
M.event = core.event

--- Events, made by `loom.event()`.
-- @type Event

--- Set the flag and wake every waiting task (idempotent). Not a
-- checkpoint; also usable outside tasks.
-- @function Event:set
-- @usage ready:set()                 -- every waiter starts

--- Reset the flag. Tasks already woken by `set` still return. Not a
-- checkpoint.
-- @function Event:clear

--- `true` while the flag is set.
-- @treturn boolean
-- @function Event:is_set

--- **Checkpoint.** Wait until the event is set (at once if it is).
-- @raise `loom.Cancelled` if the task is cancelled meanwhile
-- @function Event:wait
-- @usage g:spawn(function() ready:wait(); work() end)

--- @section end

return M
