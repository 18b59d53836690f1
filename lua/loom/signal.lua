--- Signals: `loom.signal.wait`.
-- @module loom.signal
local core = require "loom.core"
local stream = require "loom.stream"

local raise = stream._raise
local signal_wait = core.signal_wait

local M = {}

--- Checkpoint. Wait for the next delivery of a signal (`"SIGUSR1"`,
-- `"SIGTERM"`, ... or a number); returns its name. Every task waiting for
-- that signal wakes. Once a signal has been waited for, loom keeps catching
-- it until the Lua state closes: with no task waiting, it is dropped
-- instead of taking its default action. Waiting for `"SIGINT"` takes
-- Ctrl-C over from `loom.run` while the task waits (no `loom.Interrupted`).
-- @tparam string|integer name
-- @treturn string the signal's name
-- @raise `loom.IOError` (op "signal"), e.g. `"EINVAL"` for SIGKILL
-- @usage loom.signal.wait("SIGTERM")
function M.wait(name)
  local r, code, msg = signal_wait(name)
  if r == nil then raise(code, msg, "signal") end
  return r
end

core.mark_wrappers(M)

return M
