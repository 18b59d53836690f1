--- loom: structured concurrency for Lua 5.4 on libuv.
-- Task groups where the parent waits for its children, cancel scopes with
-- deadlines and shields, cancellation that reaches blocked code and lets
-- cleanup run, and errors that are never lost.
-- @module loom
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

-- The version, and the native core (not public API: see loom.core).
M._VERSION = "loom " .. core.version
M.core = core

-- The loop and the tasks (loom.core).

--- Run `fn(...)` as the root task until it and everything it started have
-- finished. Returns `fn`'s results; raises its error unchanged.
-- @function run
M.run = core.run
--- Monotonic clock in seconds. @function now
M.now = core.now
--- Checkpoint. Suspend the current task for `seconds`. @function sleep
M.sleep = core.sleep
--- Checkpoint. Suspend until `loom.now() >= when`. @function sleep_until
M.sleep_until = core.sleep_until
--- Checkpoint. Yield to the other ready tasks. @function checkpoint
M.checkpoint = core.checkpoint
--- The running Task, or nil. @function current_task
M.current_task = core.current_task
--- Start `fn(...)` as a root task without running the loop (host loops).
-- @function start
M.start = core.start
--- Cancel every task of `loom.start` and run the loop until they are done.
-- @function shutdown
M.shutdown = core.shutdown
--- Set the handler of errors nobody owns: `fn(err, task)`.
-- @function on_unhandled
M.on_unhandled = core.on_unhandled

-- Task groups and cancel scopes (loom.group, loom.scope).
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

-- Blocking work on worker threads (loom.thread).

--- Checkpoint. Run `fn(...)` on a worker thread; see `loom.thread`.
-- @function to_thread
M.to_thread = thread.to_thread
M.thread = thread
--- How many `to_thread` jobs may run at once (default: the number of
-- CPUs, at least 4); assignable, read at each `to_thread` call.
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

-- Introspection (loom.introspect).
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
