--- Blocking work off the loop: `loom.to_thread` and what a worker's
-- function can ask (`loom.thread.cancelled`).
--
-- `loom.to_thread([opts,] fn, ...)` runs `fn(...)` on one of loom's own
-- worker threads, in a Lua state of that thread's own, while every other
-- task goes on; at most `loom.thread_limit` jobs run at once, the others
-- wait their turn (FIFO). `fn` moves as the bytes of `string.dump` (its
-- only upvalue may be `_ENV`, which becomes the worker's globals), and
-- its arguments and results are copied: nil, booleans, numbers, strings
-- and tables of these (shared and cyclic tables kept; metatables are not
-- copied).
-- @module loom.thread
local core = require "loom.core"

local M = {}

--- Checkpoint. Run `fn(...)` on a worker thread and return its results.
-- An error raised by `fn` is raised here: the same string with the
-- worker's traceback appended, or a copy of the table. A cancelled call
-- waits for `fn` to return and then raises `Cancelled` (its results are
-- discarded; an error of `fn` is raised instead); with
-- `opts.abandon_on_cancel = true` it raises at once and the results are
-- dropped when `fn` ends. `loom.run` waits for every job either way.
-- @tparam[opt] table opts `abandon_on_cancel` (boolean, default false)
-- @tparam function fn a Lua function with no upvalue but `_ENV`
-- @param ... arguments (copyable values)
-- @return the results of `fn` (copied)
-- @raise `loom.Cancelled`; `fn`'s error; an argument error naming the
--   position of a value that cannot be copied
-- @usage local digest = loom.to_thread(function(s)
--   return require("sha2").sha256(s)
-- end, data)
-- @function to_thread
M.to_thread = core.to_thread

--- Inside a worker's function: `true` once the task waiting for this job
-- has been cancelled, so long work can stop early (return, and the
-- caller raises `Cancelled`). `false` outside a worker.
-- @treturn boolean
-- @usage for i = 1, n do
--   if loom.thread.cancelled() then return end
--   work(i)
-- end
-- @function cancelled
M.cancelled = core.thread_cancelled

--- `true` inside a worker's function (its job is running in this Lua
-- state), `false` elsewhere.
-- @treturn boolean
-- @function in_worker
M.in_worker = core.thread_in_worker

--- The default of `loom.thread_limit`: the number of CPUs, at least 4.
-- @treturn integer
-- @function default_limit
M.default_limit = core.thread_default_limit

--- The number of CPUs this process may use (at least 1): how many worker
-- processes a server started on every core (examples/14_multicore_server).
-- @treturn integer
-- @function cpu_count
M.cpu_count = core.thread_cpu_count

return M
