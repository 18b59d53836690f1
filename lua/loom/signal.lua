--- Signals: `loom.signal.wait`.
-- @module loom.signal
local core = require "loom.core"
local util = require "loom._util"

local M = {}

--- **Checkpoint.** Wait for the next delivery of a signal and return its
-- name. `name` is a name (`"SIGUSR1"`, `"SIGTERM"`...) or a number. Every
-- task waiting for that signal wakes. Signals are not queued: one that
-- comes while no task waits is dropped. Once a signal has been waited for,
-- loom keeps catching it until the Lua state closes: with no task waiting,
-- it is dropped instead of taking its default action. Waiting for
-- `"SIGINT"` takes Ctrl-C over from `loom.run` while the task waits (no
-- `loom.Interrupted`).
-- @tparam string|integer name
-- @treturn string the signal's name
-- @raise `loom.IOError` (op "signal"), such as `"EINVAL"` for SIGKILL and
-- SIGSTOP; `loom.Cancelled`
-- @usage loom.signal.wait("SIGTERM")
-- @function wait
M.wait = util.io(core.signal_wait, "signal", 1)

core.mark_wrappers(M)

return M
