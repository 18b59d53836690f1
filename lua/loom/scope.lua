--- Cancel scopes, timeouts and shields.
-- @module loom.scope
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

--- Run `body(s)` in a new cancel scope `s`. Returns `body`'s results, or
-- nothing if the scope was cancelled (the Cancelled stops here).
-- @tparam function body
function M.scope(body)
  check_body("scope", body, 1)
  return enter(nil, false, false, body)
end

--- `body(s)` with a deadline `now() + seconds`; raises a new
-- `loom.TimeoutError` at this boundary if the deadline cancelled it.
-- `seconds = nil`: no deadline; `<= 0`: already expired.
-- @tparam ?number seconds
-- @tparam function body
-- @raise `loom.TimeoutError`
function M.timeout(seconds, body)
  check_time("timeout", seconds)
  check_body("timeout", body, 2)
  return enter(seconds ~= nil and now() + seconds or nil, false, true, body)
end

--- Same as `timeout` with an absolute deadline on `loom.now()`'s clock.
function M.timeout_at(when, body)
  check_time("timeout_at", when)
  check_body("timeout_at", body, 2)
  return enter(when, false, true, body)
end

--- Like `timeout`, but on expiry returns nothing instead of raising.
function M.move_on_after(seconds, body)
  check_time("move_on_after", seconds)
  check_body("move_on_after", body, 2)
  return enter(seconds ~= nil and now() + seconds or nil, false, false, body)
end

--- Like `timeout_at`, but on expiry returns nothing instead of raising.
function M.move_on_at(when, body)
  check_time("move_on_at", when)
  check_body("move_on_at", body, 2)
  return enter(when, false, false, body)
end

--- Run `body(s)` shielded from the cancellation of enclosing scopes (its
-- own `s:cancel()` and scopes inside it still work).
function M.shield(body)
  check_body("shield", body, 1)
  return enter(nil, true, false, body)
end

-- Misuse errors raised under these functions (outside of a task) name
-- the caller's line.
core.mark_sources(M)

return M
