--- Cancel scopes, timeouts and shields: `loom.scope`, `loom.timeout`...
-- This file is module `loom.scope`; its documentation is part of
-- the page of `loom` (config.ld merges it there).
-- @module loom
local core = require "loom.core"
local util = require "loom._util"

local type, xpcall = type, xpcall
local now, scope_open, scope_exit, msgh = core.now, core.scope_open,
                                          core.scope_exit, core.msgh
local argerror, typeerror = util.argerror, util.typeerror

local M = {}

local callable = core.is_callable

-- Argument checks of the public functions below (level 3: the line that
-- called the public function).
local function check_body(name, body, n)
  if not callable(body) then typeerror(n, name, "function", body, 3) end
end

local function check_time(name, v)
  if v == nil then return end
  if type(v) ~= "number" then typeerror(1, name, "number", v, 3) end
  if v ~= v then argerror(1, name, "NaN is not a time", 3) end
end

local function enter(when, shield, raise, body)
  local s = scope_open(when, shield, raise)
  return scope_exit(s, xpcall(body, msgh, s))
end

--- Cancel scopes.
-- Cancellation is level-triggered: once a scope is cancelled, every
-- checkpoint reached by a task inside it (and not inside a shield) raises
-- `loom.Cancelled`, until the task leaves the scope; code that catches it
-- with `pcall` and goes on is cancelled again at its next checkpoint.
-- `<close>` variables, `pcall` handlers and cleanup run as the error
-- unwinds. A `Cancelled` is caught by the outermost cancelled scope
-- between the checkpoint and the nearest shield, so an explicit cancel of
-- an outer scope wins over an inner timeout. Deadlines are on
-- `loom.now()`'s clock and checked at every checkpoint. A scope catches
-- only a `Cancelled` that reaches its boundary: if its body returns
-- normally, the call returns the body's results (and `timeout` raises
-- nothing). These functions must run in a task; entering a scope is not a
-- checkpoint.
-- @section scopes

--- Run `body(s)` in a new cancel scope `s`. Returns `body`'s results, or
-- nothing if the scope caught its own cancellation (the `Cancelled`
-- stops here).
-- @tparam function body called with the `Scope`
-- @return the results of `body`, or nothing
-- @raise what `body` raises, but the cancellation of `s`
-- @usage loom.scope(function(s)
--   g:spawn(function() loom.signal.wait("SIGTERM"); s:cancel() end)
--   serve()                       -- until SIGTERM
-- end)
function M.scope(body)
  check_body("scope", body, 1)
  return enter(nil, false, false, body)
end

--- Run `body(s)` in a scope with the deadline `loom.now() + seconds`.
-- Returns `body`'s results. If the deadline is what cancelled the scope,
-- raises a **new** `loom.TimeoutError` at this boundary (inner timeouts
-- never see it); if `s:cancel()` cancelled it, returns nothing, as
-- `scope`. `seconds = nil`: no deadline; `seconds <= 0`: already expired
-- (`body` runs until its first checkpoint).
-- @tparam ?number seconds
-- @tparam function body called with the `Scope`
-- @return the results of `body`
-- @raise `loom.TimeoutError`; what `body` raises; an argument error for
-- NaN
-- @usage local ok, err = pcall(loom.timeout, 5, function()
--   return loom.tcp.connect(host, port)
-- end)
-- if not ok and loom.TimeoutError:is(err) then print("too slow") end
function M.timeout(seconds, body)
  check_time("timeout", seconds)
  check_body("timeout", body, 2)
  return enter(seconds ~= nil and now() + seconds or nil, false, true, body)
end

--- As `timeout`, with an absolute deadline `when` on `loom.now()`'s
-- clock (`nil`: none).
-- @tparam ?number when
-- @tparam function body called with the `Scope`
-- @return the results of `body`
-- @raise `loom.TimeoutError`; what `body` raises; an argument error for
-- NaN
-- @usage local deadline = loom.now() + 10     -- one deadline for two steps
-- loom.timeout_at(deadline, step1)
-- loom.timeout_at(deadline, step2)
function M.timeout_at(when, body)
  check_time("timeout_at", when)
  check_body("timeout_at", body, 2)
  return enter(when, false, true, body)
end

--- As `timeout`, but on expiry returns nothing instead of raising.
-- @tparam ?number seconds
-- @tparam function body called with the `Scope`
-- @return the results of `body`, or nothing
-- @raise what `body` raises; an argument error for NaN
-- @usage local line = loom.move_on_after(1, function()
--   return s:read_line()
-- end)
-- if line == nil then ... end      -- a partial line is still buffered
function M.move_on_after(seconds, body)
  check_time("move_on_after", seconds)
  check_body("move_on_after", body, 2)
  return enter(seconds ~= nil and now() + seconds or nil, false, false, body)
end

--- As `timeout_at`, but on expiry returns nothing instead of raising.
-- @tparam ?number when
-- @tparam function body called with the `Scope`
-- @return the results of `body`, or nothing
-- @raise what `body` raises; an argument error for NaN
function M.move_on_at(when, body)
  check_time("move_on_at", when)
  check_body("move_on_at", body, 2)
  return enter(when, false, false, body)
end

--- Run `body(s)` shielded from the cancellation of enclosing scopes: its
-- checkpoints do not raise for them (its own `s:cancel()`, and scopes
-- inside it, still work). For cleanup that must wait; give it a timeout.
-- @tparam function body called with the `Scope`
-- @return the results of `body`, or nothing if `s:cancel()` cancelled it
-- @raise what `body` raises
-- @usage local conn <close> = setmetatable({}, { __close = function()
--   loom.shield(function() loom.timeout(1, flush) end)  -- may wait
-- end })
function M.shield(body)
  check_body("shield", body, 1)
  return enter(nil, true, false, body)
end

--- Cancel scopes, as the body of `scope`, `timeout`, `move_on_after`,
-- `shield` and their `_at` forms gets them. Changes take effect at once
-- for the tasks blocked inside: cancelling the scope, moving its deadline
-- into the past, or turning `shield` off while an enclosing scope is
-- cancelled wakes them with `loom.Cancelled`. Once the scope has been
-- left, its methods and fields still work and change nothing.
-- @type Scope

--- Cancel the scope (idempotent): its tasks raise `loom.Cancelled` at
-- their checkpoints until they leave it. Works from any task. Not a
-- checkpoint.
-- @function Scope:cancel
-- @usage loom.scope(function(s)
--   g:spawn(function() ev:wait(); s:cancel() end)
--   work()
-- end)

--- Set the deadline, as assigning `s.deadline`.
-- @function Scope:reschedule
-- @tparam ?number when on `loom.now()`'s clock; `nil` for no deadline
-- @usage s:reschedule(loom.now() + 30)   -- 30 s more

--- `true` if the deadline is what cancelled the scope.
-- @function Scope:expired
-- @treturn boolean

--- The absolute deadline on `loom.now()`'s clock, `math.huge` if none.
-- Assignable: a later deadline postpones a scope that has not fired yet,
-- one in the past cancels it at once. Once cancelled, a scope stays
-- cancelled (changing the deadline then has no effect).
-- @tfield number deadline

--- `true` while the scope shields its body from the cancellation of
-- enclosing scopes. Assignable (a boolean).
-- @tfield boolean shield

--- `true` once the scope was cancelled, by `cancel()` or its deadline.
-- Read-only.
-- @tfield boolean cancel_called

--- `true` if the scope ended by catching its own cancellation.
-- Read-only.
-- @tfield boolean cancelled_caught

--- @section end

-- Misuse errors raised under these functions (outside of a task) name
-- the caller's line.
core.mark_sources(M)

return M
