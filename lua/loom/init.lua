--- loom: structured concurrency for Lua 5.4 on libuv.
-- Task groups where the parent waits for its children, cancel scopes with
-- deadlines and shields, cancellation that reaches blocked code and lets
-- cleanup run, and errors that are never lost.
-- @module loom
local core = require "loom.core"
local errors = require "loom.errors"
local group = require "loom.group"
local scope = require "loom.scope"

local M = {}

M._VERSION = "loom " .. core.version
M.core = core

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

M.with_group = group.with_group

M.scope = scope.scope
M.timeout = scope.timeout
M.timeout_at = scope.timeout_at
M.move_on_after = scope.move_on_after
M.move_on_at = scope.move_on_at
M.shield = scope.shield

M.Cancelled = errors.Cancelled
M.TimeoutError = errors.TimeoutError
M.TaskCancelled = errors.TaskCancelled
M.ErrorGroup = errors.ErrorGroup
M.IOError = errors.IOError
M.Interrupted = errors.Interrupted
M.is_cancelled = errors.is_cancelled

-- Synchronisation objects and callback bridges: each module returns a
-- table of public functions (loom.event, loom.lock, ..., loom.await).
for _, name in ipairs { "event", "lock", "semaphore", "condition", "channel",
                        "bridge" } do
  for k, v in pairs(require("loom." .. name)) do M[k] = v end
end

-- I/O families, as namespaces: loom.tcp, loom.pipe, loom.udp, loom.dns,
-- loom.fs, loom.process, loom.signal.
for _, name in ipairs { "tcp", "pipe", "udp", "dns", "fs", "process",
                        "signal" } do
  M[name] = require("loom." .. name)
end

return M
