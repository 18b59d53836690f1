--- Semaphores: a counter of permits, with FIFO waiters (`loom.semaphore`).
-- This file is module `loom.semaphore`; its documentation is part of
-- the page of `loom` (config.ld merges it there).
-- @module loom
local core = require "loom.core"

local M = {}

--- Semaphores.
-- `loom.semaphore(n)` has `n` permits; `acquire` takes one, waiting while
-- none is left, `release` gives one back (to the first waiter if any).
-- The field `value` is the number of free permits. Without a `max`,
-- releases may raise `value` above `n`.
-- Like every synchronisation object, its waiters queue in FIFO order, a
-- waiter cancelled while it waits leaves the queue and takes nothing, and
-- its blocking methods are checkpoints even when they complete at once
-- (then without yielding to other tasks); the other methods are not
-- checkpoints and also work outside tasks.
-- @section semaphores

--- Make a semaphore with `n` permits. Not a checkpoint.
-- @tparam integer n initial value (>= 0)
-- @tparam[opt] integer max if given, a release that would make the value
-- exceed `max` raises (a bounded semaphore)
-- @treturn Semaphore
-- @usage
-- local sem = loom.semaphore(3)      -- at most 3 downloads at once
-- sem:with(download, url)
-- @function semaphore
M.semaphore = core.semaphore

--- Semaphores, made by `loom.semaphore(n [, max])`.
-- @type Semaphore

--- Number of free permits (0 while tasks wait). Read-only.
-- @tfield integer value

--- The `max` given to `loom.semaphore`, or `nil`. Read-only.
-- @tfield ?integer max

--- **Checkpoint.** Take a permit, waiting (FIFO) while `value` is 0. A waiter
-- handed a permit but cancelled before it ran gives it back and raises.
-- @raise `loom.Cancelled`
-- @function Semaphore:acquire

--- Give a permit back: to the first waiter, or to `value`. Not a
-- checkpoint; any task (or code outside tasks) may release.
-- @raise an error if a `max` was given and would be exceeded
-- @function Semaphore:release

--- **Checkpoint.** Acquire, call `fn(...)`, release (also when `fn` raises or
-- is cancelled) and return `fn`'s results.
-- @tparam function fn
-- @param ... arguments for `fn`
-- @return the results of `fn`
-- @raise `loom.Cancelled`, or what `fn` raised
-- @function Semaphore:with
-- @usage local slots = loom.semaphore(3)   -- at most 3 downloads at once
-- for _, url in ipairs(urls) do
--   g:spawn(function() slots:with(download, url) end)
-- end

--- @section end

return M
