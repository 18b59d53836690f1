--- Conditions: wait for a notification while holding a lock
-- (`loom.condition`).
-- This file is module `loom.condition`; its documentation is part of
-- the page of `loom` (config.ld merges it there).
-- @module loom
local core = require "loom.core"

local M = {}

--- Conditions.
-- `loom.condition([lock])` uses `lock` (or a new `Lock`) as `c.lock`.
-- `wait`, `notify` and `notify_all` must be called by the task holding
-- the lock. `wait` releases it, waits for a notification, and re-acquires
-- it before it returns or raises, also when the task is cancelled (the
-- re-acquire is shielded). Like every condition variable, a wait may
-- return without the predicate being true: wait in a loop. Notified
-- waiters queue for the lock behind the tasks already waiting for it; a
-- notification with nobody waiting is not remembered.
-- @section conditions

--- Make a condition over `lock` (a `loom.lock()`), or over a new lock.
-- Not a checkpoint.
-- @tparam[opt] Lock lock
-- @treturn Condition
-- @usage
-- local c, items = loom.condition(), {}
-- -- consumer
-- c:with(function()
--   while #items == 0 do c:wait() end
--   print(table.remove(items, 1))
-- end)
-- -- producer
-- c:with(function() items[#items + 1] = "x"; c:notify() end)
-- @function condition
M.condition = core.condition

--- Conditions, made by `loom.condition([lock])`.
-- @type Condition

--- The lock of the condition. Read-only.
-- @tfield Lock lock

--- **Checkpoint.** `c.lock:acquire()`: wait until the lock is free and
-- take it.
-- @function Condition:acquire
-- @raise `loom.Cancelled`; an error if the task already holds the lock

--- `c.lock:release()`. Not a checkpoint.
-- @function Condition:release
-- @raise an error if the current task does not hold the lock

--- **Checkpoint.** `c.lock:with(fn, ...)`: acquire, call `fn(...)`,
-- release (also when `fn` raises or is cancelled), return `fn`'s results.
-- @function Condition:with
-- @tparam function fn
-- @param ... arguments for `fn`
-- @return the results of `fn`
-- @raise `loom.Cancelled`, or what `fn` raised

--- **Checkpoint.** Release the lock, wait until notified, re-acquire the lock.
-- The lock is held again when `wait` returns or raises (`Cancelled`
-- included). Waiters are notified in FIFO order.
-- @raise `loom.Cancelled`; an error if the task does not hold the lock
-- @function Condition:wait

--- Wake up to `n` (default 1) waiters, oldest first. They return from
-- `wait` one by one as the lock is released. Not a checkpoint.
-- @tparam[opt=1] integer n
-- @raise an error if the task does not hold the lock
-- @function Condition:notify

--- Wake every waiter. Not a checkpoint.
-- @raise an error if the task does not hold the lock
-- @function Condition:notify_all

--- @section end

return M
