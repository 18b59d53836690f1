--- Error classes of loom.
-- `Cancelled`, `TimeoutError`, `TaskCancelled` and `ErrorGroup` are made by
-- the native core; `IOError` and `Interrupted` here. Every class has
-- `Class:is(e)`, safe on any value, and every error value a `__tostring`
-- that reads well in a terminal.
-- @module loom.errors
local core = require "loom.core"

local error, type, tostring = error, type, tostring
local ipairs, pairs, pcall, require = ipairs, pairs, pcall, require
local concat = table.concat
local setmetatable = setmetatable

local M = {}

local classes, metatables = core.classes, core.metatables

M.Cancelled = classes.Cancelled
M.TimeoutError = classes.TimeoutError
M.TaskCancelled = classes.TaskCancelled
M.ErrorGroup = classes.ErrorGroup

--- `true` if `e` is a `loom.Cancelled` (the error of a cancellation).
-- @param e any value
-- @treturn boolean
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

--- All errors that are not groups, nested groups flattened, in order.
-- @treturn table array of error values
function ErrorGroup_methods:leaves(out)
  check_self(self, "leaves")
  out = out or {}
  for i = 1, (self.n or #self.errors) do
    local e = self.errors[i]
    if M.ErrorGroup:is(e) then e:leaves(out) else out[#out + 1] = e end
  end
  return out
end

--- `true` if a leaf matches `x`: an error class (`x:is(leaf)`) or a
-- predicate function.
-- @param x a class or a function
-- @treturn boolean
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

--- I/O failure: fields `code` (libuv's name, e.g. `"ECONNREFUSED"`),
-- `message` and `op`.
-- @table IOError
local IOError, IOError_mt = core.new_class("loom.IOError")
M.IOError = IOError
IOError_mt.__tostring = function(self)
  return ("loom.IOError: %s%s (%s)"):format(
    self.op and (tostring(self.op) .. ": ") or "", tostring(self.message),
    tostring(self.code))
end

--- Make an IOError value.
-- @tparam string code libuv error name
-- @tparam string message description
-- @tparam string op the operation that failed
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

--- Raised by `loom.run` after Ctrl-C cancelled the task tree and its
-- cleanup ran.
-- @table Interrupted
M.Interrupted = classes.Interrupted

return M
