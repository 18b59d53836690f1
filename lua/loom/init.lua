--- loom: structured concurrency for Lua 5.4 on libuv.
-- Task groups where the parent waits for its children, cancel scopes with
-- deadlines and shields, cancellation that reaches blocked code and lets
-- cleanup run, and errors that are never lost.
--
-- This page documents what `require "loom"` exports; the I/O families
-- (`loom.tcp`, `loom.fs`, ...), worker threads (`loom.thread`) and
-- introspection (`loom.introspect`) have a page each.
--
-- **Checkpoints.** An entry whose summary begins with "Checkpoint." may
-- wait, and is where a cancellation is delivered: in a cancelled scope it
-- raises `loom.Cancelled`, also when it could complete at once. It must
-- run in a task: outside `loom.run` (or a task of `loom.start`) it raises
-- an error containing `outside of a loom task`, and from a coroutine that
-- you created inside a task one containing `nested coroutine`. Code
-- between two checkpoints runs without interruption. Every I/O call is a
-- checkpoint.
--
-- **Exports.** Everything `require "loom"` returns, by topic:
--
-- - The loop, time and checkpoints: @{run}, @{start}, @{shutdown},
--   @{on_unhandled}, @{current_task}, @{now}, @{sleep}, @{sleep_until},
--   @{checkpoint}, @{_VERSION}; the @{Task} objects.
-- - Task groups: @{with_group} and its @{Group}.
-- - Cancel scopes: @{scope}, @{timeout}, @{timeout_at}, @{move_on_after},
--   @{move_on_at}, @{shield} and their @{Scope}.
-- - Errors: the classes @{Cancelled}, @{TimeoutError}, @{TaskCancelled},
--   @{ErrorGroup}, @{IOError}, @{Interrupted} (each with @{Class:is}),
--   and @{is_cancelled}.
-- - Synchronisation: @{event}, @{lock}, @{semaphore}, @{condition},
--   @{channel}, and their @{Event}, @{Lock}, @{Semaphore}, @{Condition},
--   @{Channel}.
-- - Callback bridges: @{await}, @{use_luv}; the @{Future} of the C API.
-- - Worker threads (page @{loom.thread}):
--   [`loom.to_thread`](loom.thread.html#loom.to_thread),
--   [`loom.thread_limit`](loom.thread.html#loom.thread_limit) and the
--   namespace `loom.thread`.
-- - Introspection (page @{loom.introspect}):
--   [`loom.tree`](loom.introspect.html#loom.tree),
--   [`loom.dump`](loom.introspect.html#loom.dump),
--   [`loom.format_tree`](loom.introspect.html#loom.format_tree),
--   [`loom.dump_on_signal`](loom.introspect.html#loom.dump_on_signal),
--   [`loom.configure`](loom.introspect.html#loom.configure).
-- - I/O, as namespaces with a page each: @{loom.tcp}, @{loom.pipe} (their
--   streams and listeners: @{loom.stream}), @{loom.udp}, @{loom.dns},
--   @{loom.fs}, @{loom.process}, @{loom.signal}, @{loom.tls}.
--
-- @{loom.testing} (a virtual clock and leak checks for tests) is a module
-- of its own, not exported by `loom`.
-- @module loom
-- @usage
-- local loom = require "loom"
-- loom.run(function()
--   local ok, err = pcall(loom.timeout, 2, function()   -- one deadline
--     loom.with_group(function(g)                        -- waits for both
--       g:spawn(function() loom.sleep(1); print("fast done") end)
--       g:spawn(function() loom.sleep(5); print("never printed") end)
--     end)
--   end)
--   print(err)   --> loom.TimeoutError: deadline exceeded
-- end)
local core = require "loom.core"
local errors = require "loom.errors"
local group = require "loom.group"
local scope = require "loom.scope"
local event = require "loom.event"
local lock = require "loom.lock"
local semaphore = require "loom.semaphore"
local condition = require "loom.condition"
local channel = require "loom.channel"
local bridge = require "loom.bridge"
local introspect = require "loom.introspect"
local thread = require "loom.thread"

local M = {}

--- The loop, time and checkpoints.
-- @section running

--- The version: `"loom "` followed by the version of the native core.
M._VERSION = "loom " .. core.version
-- The native core (not public API: see loom.core).
M.core = core

-- The loop and the tasks (loom.core).

--- Run `fn(...)` as the root task on an event loop until it and every task
-- it started have finished, and return its results. Before it returns,
-- every I/O handle they opened is closed and every child process they left
-- running is reaped. If `fn` fails, `run` raises its error value unchanged
-- (not wrapped). Tasks of `start` run alongside but are not waited for.
-- `run` cannot be nested; it can be called again after it returns.
--
-- If every task is blocked and nothing (no timer, no I/O, no pending
-- future, no worker thread) can wake any of them, `run` cancels them, so
-- that their cleanup runs, then raises an error containing `deadlock`
-- that lists every blocked task, what it waits on and where it was
-- spawned. Ctrl-C (SIGINT) cancels the whole task tree, lets cleanup run,
-- then raises a `loom.Interrupted`.
-- @function run
-- @tparam function fn the root task's function (any callable)
-- @param ... arguments for `fn`
-- @return the results of `fn`
-- @raise `fn`'s error value; `loom.Interrupted` after Ctrl-C; an error
-- containing `deadlock`; a `loom.TaskCancelled` if the root task was
-- cancelled (`loom.current_task():cancel()`); an error containing
-- `already running` inside a task or a running loop
-- @usage
-- local loom = require "loom"
-- print(loom.run(function(a, b)
--   loom.sleep(0.1)
--   return a + b
-- end, 1, 2))                                   --> 3
M.run = core.run

--- Monotonic clock, in seconds (a float, at least millisecond
-- resolution); also usable outside a task. Every deadline of loom is on
-- this clock. Not a checkpoint.
-- @function now
-- @treturn number
-- @usage local t0 = loom.now(); work(); print(loom.now() - t0, "s")
M.now = core.now

--- **Checkpoint.** Suspend the current task for `seconds`. `sleep(0)` (or a
-- negative number) only yields to the other ready tasks;
-- `sleep(math.huge)` waits until the task is cancelled.
-- @function sleep
-- @tparam number seconds
-- @raise `loom.Cancelled`; an argument error for a non-number or NaN
-- @usage loom.sleep(0.5)
M.sleep = core.sleep

--- **Checkpoint.** Suspend the current task until `loom.now() >= when` (at
-- once, after a checkpoint, if that time has passed).
-- @function sleep_until
-- @tparam number when a time on `now`'s clock
-- @raise `loom.Cancelled`; an argument error for a non-number or NaN
-- @usage
-- local next_tick = loom.now()
-- while true do
--   next_tick = next_tick + 1
--   loom.sleep_until(next_tick)    -- every second, without drift
--   tick()
-- end
M.sleep_until = core.sleep_until

--- **Checkpoint.** Raise `loom.Cancelled` if the task is in a cancelled
-- scope, else yield to the other ready tasks (and look for a
-- cancellation again when the task runs next). For loops that compute
-- without ever waiting.
-- @function checkpoint
-- @raise `loom.Cancelled`
-- @usage for i = 1, #rows do
--   if i % 1000 == 0 then loom.checkpoint() end
--   process(rows[i])
-- end
M.checkpoint = core.checkpoint

--- The running `Task`, or `nil` outside any task. Not a checkpoint.
-- @function current_task
-- @treturn ?Task
-- @usage loom.current_task().name = "worker"
M.current_task = core.current_task

--- Start `fn(...)` as a root task without running the loop and return its
-- `Task` at once: for hosts that run libuv's loop themselves
-- (`loom_attach`, luv's `uv.run`). Not a checkpoint; the task runs when
-- the loop does. An error that escapes the task goes, once and as the raw
-- value, to the handler set with `on_unhandled`; a cancellation is not an
-- error. `run` does not wait for these tasks; `shutdown` cancels them.
-- The task's fields and `t:result()` work outside tasks.
-- @function start
-- @tparam function fn the task's function (any callable)
-- @param ... arguments for `fn`
-- @treturn Task
-- @usage
-- local t = loom.start(function() loom.sleep(0.1) return "hi" end)
-- -- ... the host runs the loop ...
-- if t:is_done() then print(t:result()) end
M.start = core.start

--- Cancel every task started with `start` and run the loop until they
-- have finished. Their cleanup runs (shielded waits included), and
-- `shutdown` also waits for the work they left in libuv's threadpool and
-- for handles still closing. They end
-- `"cancelled"` (or `"ok"`, if one catches the cancellation and
-- returns). Tasks can be started again afterwards. For hosts; it runs the
-- loop, so it cannot be called from a task or while the loop runs.
-- @function shutdown
-- @raise an error if called inside a loom task or a running loop
-- @usage loom.shutdown()   -- then lua_close(L)
M.shutdown = core.shutdown

--- Set the handler of errors nobody owns, `fn(err, task)`, and return the
-- previous one. It gets, once, the raw error value that escaped a root task
-- of `start` (and the task), or a failing callback or handler (a luv
-- callback, a TLS handshake in `serve`). loom's warnings (misuse it notices
-- but cannot raise: a `loom.await` callback called twice, a future settled
-- twice) go to it too, as a message with `task` nil. The default handler
-- writes the error and its traceback to stderr; the program goes on. A
-- cancellation is never reported.
-- @function on_unhandled
-- @tparam ?function fn the new handler; `nil` restores the default
-- @treturn ?function the previous handler (`nil` for the default)
-- @usage loom.on_unhandled(function(err, task)
--   log("task %s failed: %s", task and task.name or "?", tostring(err))
-- end)
M.on_unhandled = core.on_unhandled

--- Tasks: coroutines run by loom's scheduler.
-- `g:spawn`, `g:start`, `loom.start` and `loom.run` make them;
-- `loom.current_task()` gives the running one. A task keeps its outcome
-- once it has finished. Its fields and the methods that do not wait
-- (`result`, `cancel`, `is_done`, `is_cancelled`) also work outside tasks.
-- @type Task

--- `"running"` (not finished yet: running, ready or waiting), `"ok"`,
-- `"error"` or `"cancelled"`. Read-only.
-- @field status

--- A string, readable and writable (any bytes); defaults to `task-N`,
-- N counting from 1 per Lua state. Used in tracebacks, error messages and
-- `loom.tree()`.
-- @field name

--- `"file:line"` of the `g:spawn`, `g:start`, `loom.start` or `loom.run`
-- call that made the task; `nil` after
-- `loom.configure{ spawn_sites = false }`. Read-only.
-- @field spawned_at

--- The task that called `spawn` or `start` for this one (which may differ
-- from the group's owner), or `nil` for a root task. Read-only.
-- @field parent

--- **Checkpoint.** Wait until the task has finished and return its results
-- (all of them, `nil`s included). If it failed, raises its error value
-- (the same value); if it was cancelled, raises a `loom.TaskCancelled`,
-- which is not a cancellation of the caller (`loom.is_cancelled(e)` is
-- false). A task cannot join itself.
-- @function Task:join
-- @return the task's results
-- @raise the task's error; `loom.TaskCancelled`; `loom.Cancelled` (the
-- caller is cancelled); an error if the task joins itself
-- @usage local t = g:spawn(fetch, url)
-- local body = t:join()

--- **Checkpoint.** Wait until the task has finished, never raising for its
-- outcome: returns `"ok"` and its results, `"error"` and its error value,
-- or `"cancelled"`.
-- @function Task:wait
-- @treturn string `"ok"`, `"error"` or `"cancelled"`
-- @return the results, or the error value
-- @raise `loom.Cancelled` (the waiter is cancelled); an error if the task
-- waits for itself
-- @usage local how, v = t:wait()
-- if how == "error" then log(v) end

--- The outcome of a finished task, without waiting (not a checkpoint):
-- its results, or raises its error value, or a `loom.TaskCancelled` if
-- it was cancelled.
-- @function Task:result
-- @return the task's results
-- @raise the task's error; `loom.TaskCancelled`; an error containing
-- `not finished` if the task is still running

--- Cancel this task alone: the checkpoint where it waits, or its next
-- one, raises `loom.Cancelled`. Its siblings go on and its group does not
-- fail; `join` then raises `loom.TaskCancelled`. No effect on a finished
-- task. Not a checkpoint.
-- @function Task:cancel
-- @usage local t = g:spawn(spinner)
-- work()
-- t:cancel()

--- `true` once the task has finished, whatever the outcome.
-- @function Task:is_done
-- @treturn boolean

--- `t:is_done()`, by the contract's name.
-- @function Task:done
-- @treturn boolean

--- `true` if the task ended cancelled (`status == "cancelled"`).
-- @function Task:is_cancelled
-- @treturn boolean

--- `t:is_cancelled()`, by the contract's name.
-- @function Task:cancelled
-- @treturn boolean

--- @section end

-- Task groups and cancel scopes (loom.group, loom.scope). The functions,
-- classes and objects of loom.group, loom.scope, loom.errors, loom.event,
-- loom.lock, loom.semaphore, loom.condition, loom.channel and loom.bridge
-- are documented in those files, as parts of the page of module loom
-- (config.ld).
M.with_group = group.with_group
M.scope = scope.scope
M.timeout = scope.timeout
M.timeout_at = scope.timeout_at
M.move_on_after = scope.move_on_after
M.move_on_at = scope.move_on_at
M.shield = scope.shield

-- Error classes (loom.errors).
M.Cancelled = errors.Cancelled
M.TimeoutError = errors.TimeoutError
M.TaskCancelled = errors.TaskCancelled
M.ErrorGroup = errors.ErrorGroup
M.IOError = errors.IOError
M.Interrupted = errors.Interrupted
M.is_cancelled = errors.is_cancelled

-- Synchronisation objects, one module each.
M.event = event.event
M.lock = lock.lock
M.semaphore = semaphore.semaphore
M.condition = condition.condition
M.channel = channel.channel

-- Callback bridges (loom.bridge).
M.await = bridge.await
M.use_luv = bridge.use_luv

-- Blocking work on worker threads (loom.thread). loom.to_thread and
-- loom.thread_limit are documented on the page of loom.thread.
M.to_thread = thread.to_thread
M.thread = thread
M.thread_limit = thread.default_limit()

-- I/O families, as namespaces.
M.tcp = require "loom.tcp"
M.pipe = require "loom.pipe"
M.udp = require "loom.udp"
M.dns = require "loom.dns"
M.fs = require "loom.fs"
M.process = require "loom.process"
M.signal = require "loom.signal"
M.tls = require "loom.tls"

-- Introspection (loom.introspect, whose page documents them).
M.tree = introspect.tree
M.dump = introspect.dump
M.format_tree = introspect.format_tree
M.dump_on_signal = introspect.dump_on_signal
M.configure = introspect.configure

-- LOOM_DUMP_SIGNAL=SIGUSR1: dump the task tree on that signal, for any
-- program, without changing its code. A bad value is reported, not fatal.
do
  local sig = os.getenv("LOOM_DUMP_SIGNAL")
  if sig ~= nil and sig ~= "" then
    local ok, err = pcall(introspect.dump_on_signal, sig)
    if not ok then
      io.stderr:write("loom: LOOM_DUMP_SIGNAL=", sig, ": ", tostring(err), "\n")
    end
  end
end

return M
