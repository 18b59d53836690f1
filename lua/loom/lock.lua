--- Locks: FIFO-fair mutual exclusion between tasks (`loom.lock`).
-- This file is module `loom.lock`; its documentation is part of
-- the page of `loom` (config.ld merges it there).
-- @module loom
local core = require "loom.core"

local M = {}

--- Locks.
-- A `Lock` is held by at most one task. Waiters get it in the order they
-- asked (a release hands it to the first waiter, so nobody can barge in).
-- Locks are owned by the task that acquired it and are not reentrant:
-- acquiring a lock the task already holds raises. A task that ends while
-- holding a lock (without `with`) leaves it held.
-- Like every synchronisation object, its waiters queue in FIFO order, a
-- waiter cancelled while it waits leaves the queue and takes nothing, and
-- its blocking methods are checkpoints even when they complete at once
-- (then without yielding to other tasks); the other methods are not
-- checkpoints and also work outside tasks.
-- @section locks

--- Make a new lock, free. Not a checkpoint.
-- @treturn Lock
-- @usage
-- local lk = loom.lock()
-- lk:with(function() balance = balance + 1 end)
-- @function lock
M.lock = core.lock

--- Locks, made by `loom.lock()`.
-- @type Lock

--- **Checkpoint.** Wait until the lock is free and take it, in FIFO order.
-- A waiter cancelled while it waits leaves the queue; one that was handed
-- the lock but cancelled before it ran passes the lock on to the next
-- waiter and raises.
-- @raise `loom.Cancelled`; an error if the task already holds the lock
-- @function Lock:acquire

--- Release the lock, handing it to the first waiter if any. Not a
-- checkpoint.
-- @raise an error if the current task does not hold the lock
-- @function Lock:release

--- `true` while some task holds the lock.
-- @treturn boolean
-- @function Lock:is_locked

--- `lk:is_locked()`, by the contract's name.
-- @treturn boolean
-- @function Lock:locked

--- **Checkpoint.** Acquire, call `fn(...)`, release, and return `fn`'s
-- results. The lock is released also when `fn` raises or is cancelled
-- (the error then goes on unchanged).
-- @tparam function fn
-- @param ... arguments for `fn`
-- @return the results of `fn`
-- @raise `loom.Cancelled`, or what `fn` raised
-- @function Lock:with
-- @usage lk:with(function()
--   local b = balance
--   loom.sleep(0.01)          -- other tasks run, but cannot get in here
--   balance = b + n
-- end)

--- @section end

return M
