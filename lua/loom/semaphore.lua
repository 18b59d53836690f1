--- Semaphores: a counter of permits, with FIFO waiters.
-- `loom.semaphore(n)` has `n` permits; `acquire` takes one, waiting while
-- none is left, `release` gives one back (to the first waiter if any).
-- The field `value` is the number of free permits.
-- @module loom.semaphore
local core = require "loom.core"

local M = {}

--- Make a semaphore with `n` permits.
-- @tparam integer n initial value (>= 0)
-- @tparam[opt] integer max if given, a release that would make the value
-- exceed `max` raises (a bounded semaphore)
-- @treturn Semaphore
-- @usage
-- local sem = loom.semaphore(3)      -- at most 3 downloads at once
-- sem:with(download, url)
-- @function semaphore
M.semaphore = core.semaphore

--- Semaphore fields and methods.
-- @type Semaphore

--- Number of free permits (0 while tasks wait). Read-only.
-- @field value

--- Checkpoint. Take a permit, waiting (FIFO) while `value` is 0. A waiter
-- handed a permit but cancelled before it ran gives it back and raises.
-- @raise `loom.Cancelled`
-- @function Semaphore:acquire

--- Give a permit back: to the first waiter, or to `value`. Not a
-- checkpoint; any task (or code outside tasks) may release.
-- @raise an error if a `max` was given and would be exceeded
-- @function Semaphore:release

--- Checkpoint. Acquire, call `fn(...)`, release (also when `fn` raises or
-- is cancelled) and return `fn`'s results.
-- @tparam function fn
-- @param ... arguments for `fn`
-- @return the results of `fn`
-- @function Semaphore:with

return M
