--- Locks: FIFO-fair mutual exclusion between tasks.
-- A `Lock` is held by at most one task. Waiters get it in the order they
-- asked (a release hands it to the first waiter, so nobody can barge in).
-- Locks are not reentrant: acquiring a lock the task already holds raises.
-- @module loom.lock
local core = require "loom.core"

local M = {}

--- Make a new lock, free.
-- @treturn Lock
-- @usage
-- local lk = loom.lock()
-- lk:with(function() balance = balance + 1 end)
-- @function lock
M.lock = core.lock

--- Lock methods.
-- @type Lock

--- Checkpoint. Wait until the lock is free and take it, in FIFO order.
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
-- @function Lock:locked

--- Checkpoint. Acquire, call `fn(...)`, release, and return `fn`'s
-- results. The lock is released also when `fn` raises or is cancelled
-- (the error then goes on unchanged).
-- @tparam function fn
-- @param ... arguments for `fn`
-- @return the results of `fn`
-- @raise `loom.Cancelled`, or what `fn` raised
-- @function Lock:with

return M
