--- Private helpers of loom's Lua modules (not public API: it may change
-- at any time; use `loom` and its modules instead).
--
-- `io` makes the wrappers that turn the fail tuples of the C functions
-- (`nil, code, message`, DESIGN.md E2) into `loom.IOError`; `raise_io` raises
-- one where a wrapper does more than call its C function; `argerror` and
-- `typeerror` raise argument errors in the format of Lua's own
-- `luaL_argerror`, at the caller's line (DESIGN.md E1).
-- @module loom._util
local core = require "loom.core"
local errors = require "loom.errors"

local error, type, tostring = error, type, tostring
local format = string.format
local raise_io = errors._raise_io
local mark_wrappers = core.mark_wrappers

local M = {}

--- Raise the IOError of a fail tuple (`loom.errors._raise_io`).
-- @tparam string code libuv's error name
-- @tparam string message
-- @tparam string op the operation
-- @tparam[opt] string where prefixes the message: `"where: message"`
-- @tparam[opt] table fields set on the error (`path`, `host`)
-- @function raise_io
M.raise_io = raise_io

--- Raise `"bad argument #n to 'fname' (msg)"`, as `luaL_argerror` words
-- it, at `level` (as for `error`, seen from the function that calls
-- `argerror`: 2, the default, is the line that called that function).
-- @tparam integer n the argument's position
-- @tparam string fname the function's name
-- @tparam string msg
-- @tparam[opt=2] integer level
-- @usage if not callable(f) then util.argerror(1, "serve", "...") end
function M.argerror(n, fname, msg, level)
  error(format("bad argument #%d to '%s' (%s)", n, fname, msg),
        (level or 2) + 1)
end

--- `argerror` with the message `"<expected> expected, got <type(v)>"`.
-- Unlike `luaL_typeerror`, the type is what `type(v)` says (no `__name`).
-- @tparam integer n
-- @tparam string fname
-- @tparam string expected such as `"function"`
-- @param v the bad argument
-- @tparam[opt=2] integer level
-- @usage if type(spec) ~= "table" then
--   util.typeerror(1, "spawn", "table", spec) end
function M.typeerror(n, fname, expected, v, level)
  error(format("bad argument #%d to '%s' (%s expected, got %s)", n, fname,
               expected, type(v)), (level or 2) + 1)
end

-- Raise the IOError of operation `op` for a wrapper called with `a, b, c`:
-- `where(a, b, c)` gives the `where` and `fields` of `raise_io`.
local function fail(code, msg, op, where, a, b, c)
  if where == nil then raise_io(code, msg, op) end
  raise_io(code, msg, op, where(a, b, c))
end

-- The wrapper of each shape: "<number of arguments>:<number of results>".
-- Each is a fixed-arity function (no varargs: this is the I/O hot path,
-- and a wrapper passes `raw` exactly its own arguments, as a hand-written
-- one did: nil for a missing one, nothing beyond the last).
local shapes = {
  ["1:0"] = function(raw, op, where)
    return function(a)
      local r1, r2, r3 = raw(a)
      if r1 == nil and r2 ~= nil then fail(r2, r3, op, where, a) end
    end
  end,
  ["1:1"] = function(raw, op, where)
    return function(a)
      local r1, r2, r3 = raw(a)
      if r1 == nil and r2 ~= nil then fail(r2, r3, op, where, a) end
      return r1
    end
  end,
  ["1:2"] = function(raw, op, where)
    return function(a)
      local r1, r2, r3 = raw(a)
      if r1 == nil and r2 ~= nil then fail(r2, r3, op, where, a) end
      return r1, r2
    end
  end,
  ["1:3"] = function(raw, op, where)
    return function(a)
      local r1, r2, r3 = raw(a)
      if r1 == nil and r2 ~= nil then fail(r2, r3, op, where, a) end
      return r1, r2, r3
    end
  end,
  ["2:1"] = function(raw, op, where)
    return function(a, b)
      local r1, r2, r3 = raw(a, b)
      if r1 == nil and r2 ~= nil then fail(r2, r3, op, where, a, b) end
      return r1
    end
  end,
  ["3:1"] = function(raw, op, where)
    return function(a, b, c)
      local r1, r2, r3 = raw(a, b, c)
      if r1 == nil and r2 ~= nil then fail(r2, r3, op, where, a, b, c) end
      return r1
    end
  end,
}

--- A wrapper of the C function `raw`: it calls `raw` with its `nargs`
-- arguments (a method's self included) and returns its first `results`
-- results, or raises `loom.IOError` (`op`) if `raw` returns a fail tuple
-- `nil, code, message`. A `nil` without a code (end of stream, end of
-- file) is a result, not a failure. The wrapper is registered with
-- `core.mark_wrappers`, so argument errors raised by `raw` are blamed on
-- the wrapper's caller. Call it as a plain function or a method, never as
-- a tail call (`return (w(x))`, not `return w(x)`): a tail-called wrapper
-- has no name for those errors to quote.
-- @tparam function raw returns results, or `nil, code, message`
-- @tparam string op the IOError's `op`
-- @tparam integer nargs 1, 2 or 3
-- @tparam[opt] table opts `results` (0 to 3, default 1; 0 and more than 1
--   only with `nargs` 1) and `where`, a function of the wrapper's
--   arguments returning the `where` and `fields` of `raise_io`
-- @treturn function
-- @usage M.stat = util.io(core.fs_stat, "stat", 1, { where = at_path })
function M.io(raw, op, nargs, opts)
  local results = opts and opts.results or 1
  local key = tostring(nargs) .. ":" .. tostring(results)
  local shape = shapes[key]
  if shape == nil then
    error("loom._util.io: no wrapper of shape " .. key
          .. " (arguments:results)", 2)
  end
  local w = shape(raw, op, opts and opts.where)
  mark_wrappers({ w })
  return w
end

return M
