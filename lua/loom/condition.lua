--- Conditions: wait for a notification while holding a lock.
-- `loom.condition([lock])` uses `lock` (or a new `Lock`) as `c.lock`.
-- `wait`, `notify` and `notify_all` must be called by the task holding
-- the lock. `wait` releases it, waits for a notification, and re-acquires
-- it before it returns or raises, also when the task is cancelled (the
-- re-acquire is shielded). Like every condition variable, a wait may
-- return without the predicate being true: wait in a loop.
-- @module loom.condition
local core = require "loom.core"

local M = {}

--- Make a condition over `lock` (a `loom.lock()`), or over a new lock.
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

--- Condition fields and methods.
-- @type Condition

--- The lock of the condition.
-- @field lock

--- Checkpoint. `c.lock:acquire()`.
-- @function Condition:acquire

--- `c.lock:release()`.
-- @function Condition:release

--- Checkpoint. `c.lock:with(fn, ...)`.
-- @function Condition:with

--- Checkpoint. Release the lock, wait until notified, re-acquire the lock.
-- The lock is held again when `wait` returns or raises (`Cancelled`
-- included). Waiters are notified in FIFO order.
-- @raise `loom.Cancelled`; an error if the task does not hold the lock
-- @function Condition:wait

--- Wake up to `n` (default 1) waiters, oldest first. They return from
-- `wait` one by one as the lock is released. Not a checkpoint.
-- @tparam[opt=1] integer n
-- @raise an error if the task does not hold the lock
-- @function Condition:notify

--- Wake every waiter.
-- @raise an error if the task does not hold the lock
-- @function Condition:notify_all

return M
