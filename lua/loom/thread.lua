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
--
-- A worker's Lua state has the standard libraries and the caller's
-- `package.path` and `package.cpath`, so `require` works in it; it is
-- reused for later jobs, so modules load once per worker. `require "loom"`
-- works inside too. The workers are loom's own threads, not libuv's
-- threadpool, so long jobs never starve file I/O and DNS.
--
-- This page documents `loom.to_thread` and `loom.thread_limit` (fields of
-- `loom`) and the functions of the namespace `loom.thread`.
-- @module loom.thread
local core = require "loom.core"

local M = {}

--- **Checkpoint.** Run `fn(...)` on a worker thread and return its results.
-- It is `loom.to_thread`, also `loom.thread.to_thread`. While it runs,
-- every other task goes on. An error raised by `fn` is raised here: the
-- same string with the worker's traceback appended, or a copy of the table
-- (numbers and booleans as they are). A cancelled call waits for `fn` to
-- return and then raises `Cancelled` (its results are discarded; an error
-- of `fn` is raised instead); with `opts.abandon_on_cancel = true` it
-- raises at once and the results are dropped when `fn` ends. `loom.run`
-- waits for every job either way. At most `loom.thread_limit` jobs run at
-- once; the others wait their turn (a cancelled waiter never runs `fn`).
-- Inside `loom.shield`, `fn` runs and its results are returned.
-- @tparam[opt] table opts `abandon_on_cancel` (boolean, default false)
-- @tparam function fn a Lua function with no upvalue but `_ENV`
-- @param ... arguments (copyable values)
-- @return the results of `fn` (copied)
-- @raise `loom.Cancelled`; `fn`'s error; an argument error naming the
--   position of a value that cannot be copied, or the upvalue of `fn`
--   that cannot move; an error if a result cannot be copied back
-- @usage local digest = loom.to_thread(function(s)
--   return require("sha2").sha256(s)
-- end, data)
-- @function loom.to_thread
M.to_thread = core.to_thread

--- The number of `loom.to_thread` jobs that may run at once (default: the
-- number of CPUs, at least 4; see `default_limit`). A plain field of
-- `loom`, read at each call: assignable before or between runs, or while
-- jobs run (raising it lets waiting jobs start at once, lowering it ends
-- idle workers beyond it). A positive integer or `math.huge`. Workers
-- start on demand and are kept for later jobs.
-- @tfield integer loom.thread_limit
-- @usage loom.thread_limit = 2      -- at most two jobs at once

--- Inside a worker's function: `true` once the task waiting for this job
-- has been cancelled, so long work can stop early (return, and the
-- caller raises `Cancelled`). `false` outside a worker. Not a
-- checkpoint, as every function of `loom.thread`.
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
-- processes a server started on every core
-- (`examples/14_multicore_server.lua`).
-- @treturn integer
-- @function cpu_count
M.cpu_count = core.thread_cpu_count

return M
