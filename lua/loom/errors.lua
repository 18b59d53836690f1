--- Error classes of loom.
-- `Cancelled`, `TimeoutError`, `TaskCancelled`, `ErrorGroup` and
-- `Interrupted` are made by the native core, `IOError` here. This file is
-- module `loom.errors`; its documentation is part of the page of `loom`
-- (config.ld merges it there).
-- @module loom
local core = require "loom.core"

local error, type, tostring = error, type, tostring
local ipairs, pairs, pcall, require = ipairs, pairs, pcall, require
local concat = table.concat
local setmetatable = setmetatable

local M = {}

local classes, metatables = core.classes, core.metatables

--- Errors.
-- Every error class is a table with a field `name` (`"loom.Cancelled"`,
-- ...) and a method `is` (`Class:is`); every error value has a
-- `__tostring` that reads well in a terminal. Errors are raised as they
-- are: `error` adds no position to them.
-- @section errors

--- `true` if `e` is an error of this class, for any value `e` (a string,
-- `nil`, a table...): `loom.IOError:is(e)`. Never raises.
-- @function Class:is
-- @param e any value
-- @treturn boolean
-- @usage local ok, e = pcall(loom.fs.read_file, path)
-- if not ok and loom.IOError:is(e) and e.code == "ENOENT" then
--   return nil
-- end

--- The class of cancellations: what a checkpoint raises in a cancelled
-- scope. Only loom creates these values (one per reason, read-only); they
-- have the fields `reason` (`"explicit"`, `"deadline"`, `"group"`,
-- `"failed"`, `"task"`, `"interrupt"`, `"shutdown"`, `"deadlock"` or
-- `"abandoned"`) and `message`. Never in an `ErrorGroup`. Code that
-- catches one with `pcall` should raise it again (`error(e, 0)`): the
-- cancellation is level-triggered, so swallowing it only moves it to the
-- next checkpoint.
M.Cancelled = classes.Cancelled

--- The class of the errors `loom.timeout` and `loom.timeout_at` raise when
-- their deadline cancelled them: a new value at each boundary, with the
-- fields `message` (`"deadline exceeded"`) and `deadline`.
M.TimeoutError = classes.TimeoutError

--- The class of the errors `t:join()` and `t:result()` raise for a task
-- that was cancelled (not itself a cancellation of the caller): fields
-- `task` (the `Task`) and `message`.
M.TaskCancelled = classes.TaskCancelled

--- The class of the errors a failed group raises, always, even for one
-- error. An error group `eg` has the fields `errors` (the raw error
-- values, in the order raised; a task's own error value keeps its
-- identity; a `nil` error is recorded as a string), `tracebacks` (parallel
-- to `errors`: the traceback of the task where each was raised, its name
-- and spawn chain included), `n` (the number of errors) and `name` (the
-- group's `opts.name`, or `nil`). A nested group's failure is one entry,
-- itself an `ErrorGroup`.
M.ErrorGroup = classes.ErrorGroup

--- `true` if `e` is a `loom.Cancelled`: `loom.Cancelled:is(e)`.
-- @function is_cancelled
-- @param e any value
-- @treturn boolean
-- @usage local ok, e = pcall(step)
-- if not ok and not loom.is_cancelled(e) then log(e) end
-- if not ok then error(e, 0) end
M.is_cancelled = core.is_cancelled

-- `loom._util.argerror`. Looked up when an argument error is raised, not at
-- load: loom._util requires this module, so this one cannot require it
-- first. `level` is as for `error`, seen from the caller of argerror.
local function argerror(n, fname, msg, level)
  require("loom._util").argerror(n, fname, msg, level + 1)
end

-- Indent every line of `s` after the first by `pad`.
local function indent(s, pad)
  return (s:gsub("\n", "\n" .. pad))
end

local ErrorGroup_mt = metatables.ErrorGroup
local ErrorGroup_methods = {}
ErrorGroup_mt.__index = ErrorGroup_methods

local function check_self(self, name)
  if not M.ErrorGroup:is(self) then
    argerror(1, name, ("loom.ErrorGroup expected, got %s; call it as "
                       .. "eg:%s(...)"):format(type(self), name), 3)
  end
end

--- Every error of the group that is not itself a group, nested groups
-- flattened, in order.
-- @function ErrorGroup:leaves
-- @tparam[opt] table out an array to append them to (default: a new one)
-- @treturn table the array of error values
-- @usage for _, e in ipairs(eg:leaves()) do print(e) end
function ErrorGroup_methods:leaves(out)
  check_self(self, "leaves")
  out = out or {}
  for i = 1, (self.n or #self.errors) do
    local e = self.errors[i]
    if M.ErrorGroup:is(e) then e:leaves(out) else out[#out + 1] = e end
  end
  return out
end

--- `true` if one of `eg:leaves()` matches `x`: an error class
-- (`x:is(leaf)`) or a predicate function (`x(leaf)`).
-- @function ErrorGroup:has
-- @tparam table|function x a class, or a function of an error value
-- @treturn boolean
-- @raise an argument error if `x` is neither
-- @usage local ok, eg = pcall(loom.with_group, body)
-- if not ok and loom.ErrorGroup:is(eg) and eg:has(loom.IOError) then
--   reconnect()
-- end
function ErrorGroup_methods:has(x)
  check_self(self, "has")
  local test
  if type(x) == "function" then
    test = x
  elseif type(x) == "table" and type(x.is) == "function" then
    test = function(e) return x:is(e) end
  else
    argerror(1, "has", "error class or function expected, got " .. type(x),
             2)
  end
  for _, e in ipairs(self:leaves()) do
    if test(e) then return true end
  end
  return false
end

ErrorGroup_mt.__tostring = function(self)
  local n = self.n or #self.errors
  local lines = {}
  local where = self.name and (" in group '" .. tostring(self.name) .. "'")
                or ""
  lines[1] = ("loom.ErrorGroup: %d error%s%s"):format(n, n == 1 and "" or "s",
                                                      where)
  for i = 1, n do
    local e = self.errors[i]
    local ok, s = pcall(tostring, e)
    if not ok then s = "(error object cannot be converted to a string)" end
    if type(e) == "string" or type(e) == "number" then s = tostring(e) end
    lines[#lines + 1] = ("  [%d] %s"):format(i, indent(s, "      "))
    local tb = self.tracebacks and self.tracebacks[i]
    if tb then lines[#lines + 1] = "      " .. indent(tb, "      ") end
  end
  return concat(lines, "\n")
end

local IOError, IOError_mt = core.new_class("loom.IOError")
--- The class of I/O failures, with the fields `code` (libuv's name:
-- `"ECONNREFUSED"`, `"ENOENT"`...; `"ETLS"` for TLS), `message` and `op`
-- (the operation: `"connect"`, `"read"`...); `loom.fs` adds `path`,
-- `loom.dns` `host`, `loom.tls` `verify_error`. End of stream is not an
-- error.
M.IOError = IOError
IOError_mt.__tostring = function(self)
  return ("loom.IOError: %s%s (%s)"):format(
    self.op and (tostring(self.op) .. ": ") or "", tostring(self.message),
    tostring(self.code))
end

--- Make an `IOError` value (for code that wraps other I/O in loom's
-- errors).
-- @tparam string code libuv's error name, such as `"ENOENT"`
-- @tparam string message description
-- @tparam string op the operation that failed
-- @treturn table the error value
-- @usage error(loom.IOError.new("EPROTO", "bad reply", "read"), 0)
function IOError.new(code, message, op)
  return setmetatable({ code = code, message = message, op = op }, IOError_mt)
end

-- Internal, not public API (the I/O modules use it through loom._util):
-- raise the IOError of the fail tuple `nil, code, message` of operation
-- `op`. `where` (optional) names what failed (a path, "host:port") and
-- prefixes the message: "where: message". The fields of the optional table
-- `fields` are set on the error (`path` in loom.fs, `host` in loom.dns).
-- The error is a table, to which `error` adds no position whatever the
-- level: it is raised as it is.
function M._raise_io(code, message, op, where, fields)
  local e = IOError.new(code, where and (where .. ": " .. message) or message,
                        op)
  if fields then
    for k, v in pairs(fields) do e[k] = v end
  end
  error(e, 0)
end

--- The class of the error `loom.run` raises after Ctrl-C (SIGINT)
-- cancelled the task tree and its cleanup ran: field `message`.
M.Interrupted = classes.Interrupted

--- @section end

return M
