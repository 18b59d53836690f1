-- loom._util, the private helpers of the Lua modules: argument errors in
-- luaL_argerror's format at the caller's line, and the wrappers that turn
-- fail tuples into loom.IOError.
local loom = require "loom"
local core = require "loom.core"
local util = require "loom._util"
local S = require "spec.support"

local IOError = loom.IOError

-- The error raised by `fn` (a string), and "<this file>:<line>: ", the
-- position it must start with when `fn`'s first line made the bad call.
local function caught(fn)
  local info = debug.getinfo(fn, "S")
  return S.catch(fn), info.short_src .. ":" .. info.linedefined .. ": "
end

-- Assert that `fn` raises exactly `msg` at the line of `fn` that made the
-- call (its first line).
local function raises_at_line(fn, msg)
  local e, where = caught(fn)
  assert.equal(where .. msg, e)
end

describe("util.argerror", function()
  -- A public function `fname` that rejects its argument #n.
  local function public(n, fname, msg)
    return function() util.argerror(n, fname, msg) end
  end

  it("words the message as luaL_argerror does", function()
    -- The same bad call, of Lua's string.rep and of ours.
    local lua = { rep = string.rep }
    local ours = { rep = public(1, "rep", "string expected, got no value") }
    local a = S.catch(function() lua.rep() end)
    local b = S.catch(function() ours.rep() end)
    local function text(e) return (e:gsub("^[^:]+:%d+: ", "")) end
    assert.equal(text(a), text(b))
    assert.equal("bad argument #1 to 'rep' (string expected, got no value)",
                 text(b))
  end)

  it("raises at the line that called the public function", function()
    local f = public(2, "f", "oops")
    raises_at_line(function() f() end, "bad argument #2 to 'f' (oops)")
  end)

  it("raises at `level`, counted as for error() from its caller",
    function()
      -- A helper of the public function: level 3 is the public function's
      -- caller (1 the helper, 2 the public function).
      local function check(v)
        if not v then util.argerror(1, "g", "no", 3) end
      end
      local function g(v) check(v) end
      raises_at_line(function() g(false) end, "bad argument #1 to 'g' (no)")
      -- level 1: the line of the function that called argerror.
      local line
      local e = S.catch(function()
        line = debug.getinfo(1, "l").currentline + 1
        util.argerror(3, "h", "here", 1)
      end)
      assert.equal(debug.getinfo(1, "S").short_src .. ":" .. line
                   .. ": bad argument #3 to 'h' (here)", e)
    end)
end)

describe("util.typeerror", function()
  it("says '<expected> expected, got <type>', with type()'s name",
    function()
      local function f(v) util.typeerror(1, "f", "function", v) end
      raises_at_line(function() f(12) end,
                     "bad argument #1 to 'f' (function expected, got number)")
      raises_at_line(function() f() end,
                     "bad argument #1 to 'f' (function expected, got nil)")
      -- type(), not __name: a table with a __name is still a "table".
      local named = setmetatable({}, { __name = "My.Type" })
      raises_at_line(function() f(named) end,
                     "bad argument #1 to 'f' (function expected, got table)")
    end)

  it("raises at `level`", function()
    local function check(v) util.typeerror(2, "g", "string", v, 3) end
    local function g(v) check(v) end
    raises_at_line(function() g({}) end,
                   "bad argument #2 to 'g' (string expected, got table)")
  end)
end)

describe("util.raise_io", function()
  it("raises an IOError with code, message and op, as it is", function()
    local e = S.catch(util.raise_io, "ENOENT", "no such file", "open")
    assert.is_true(IOError:is(e))
    assert.equal("ENOENT", e.code)
    assert.equal("no such file", e.message)
    assert.equal("open", e.op)
    assert.is_nil(e.path)
    assert.equal("loom.IOError: open: no such file (ENOENT)", tostring(e))
  end)

  it("prefixes the message with `where` and sets `fields`", function()
    local e = S.catch(util.raise_io, "EEXIST", "file exists", "mkdir",
                      "/tmp/d", { path = "/tmp/d", extra = 1 })
    assert.equal("/tmp/d: file exists", e.message)
    assert.equal("/tmp/d", e.path)
    assert.equal(1, e.extra)
    assert.equal("mkdir", e.op)
  end)
end)

describe("util.io", function()
  -- A raw function returning `...`, and the list of the argument lists
  -- it was called with (table.pack: `n` counts them).
  local function returning(...)
    local results, calls = table.pack(...), {}
    return calls, function(...)
      calls[#calls + 1] = table.pack(...)
      return table.unpack(results, 1, results.n)
    end
  end

  it("passes results through, the first `results` of them", function()
    for _, case in ipairs {
      { nargs = 1, results = 1, ret = { "a", "b", "c" }, want = { "a" } },
      { nargs = 2, results = 1, ret = { "a" }, want = { "a" } },
      { nargs = 3, results = 1, ret = { false, "x" }, want = { false } },
      { nargs = 1, results = 0, ret = { true, 2 }, want = {} },
      { nargs = 1, results = 2, ret = { "127.0.0.1", 80, "x" },
        want = { "127.0.0.1", 80 } },
      -- a pipe's address: path, nil (two results, the second nil)
      { nargs = 1, results = 2, ret = { "/tmp/s" }, want = { "/tmp/s", nil },
        n = 2 },
      { nargs = 1, results = 3, ret = { "data", "::1", 9 },
        want = { "data", "::1", 9 } },
    } do
      local _, raw = returning(table.unpack(case.ret))
      local w = util.io(raw, "op", case.nargs, { results = case.results })
      local got = table.pack(w(1, 2, 3))
      local n = case.n or #case.want
      assert.equal(n, got.n, "number of results")
      for i = 1, n do assert.equal(case.want[i], got[i]) end
    end
  end)

  it("returns a nil without a code (end of stream) as a result", function()
    local _, raw = returning(nil)
    local got = table.pack(util.io(raw, "read", 2)("s", 10))
    assert.equal(1, got.n)
    assert.is_nil(got[1])
    local _, raw2 = returning(nil, nil, "ignored")
    got = table.pack(util.io(raw2, "peername", 1, { results = 2 })("s"))
    assert.equal(2, got.n)
    assert.is_nil(got[1])
    assert.is_nil(got[2])
  end)

  it("calls `raw` with exactly its own arguments", function()
    for nargs = 1, 3 do
      local rec, raw = returning(true)
      local w = util.io(raw, "op", nargs)
      w()                     -- fewer: nil for the missing ones
      w(1, 2, 3, 4, 5)        -- more: nothing beyond its own
      assert.equal(nargs, rec[1].n)
      for i = 1, nargs do assert.is_nil(rec[1][i]) end
      assert.equal(nargs, rec[2].n)
      for i = 1, nargs do assert.equal(i, rec[2][i]) end
    end
  end)

  it("raises an IOError with code, message and op on a fail tuple",
    function()
      for _, shape in ipairs { { 1, 0 }, { 1, 1 }, { 1, 2 }, { 1, 3 },
                               { 2, 1 }, { 3, 1 } } do
        local _, raw = returning(nil, "ECONNREFUSED", "connection refused")
        local w = util.io(raw, "connect", shape[1], { results = shape[2] })
        local e = S.catch(w, "127.0.0.1", 1)
        -- The error is the IOError itself: no position is added to it.
        assert.is_true(IOError:is(e), tostring(e))
        assert.equal("ECONNREFUSED", e.code)
        assert.equal("connection refused", e.message)
        assert.equal("connect", e.op)
      end
    end)

  it("decorates the error with `where`, called with its arguments",
    function()
      local _, raw = returning(nil, "ENOENT", "no such file or directory")
      local seen
      local w = util.io(raw, "rename", 2, { where = function(a, b, c)
        seen = { a, b, c }
        return a .. " -> " .. b, { path = a }
      end })
      local e = S.catch(w, "/x", "/y")
      assert.same({ "/x", "/y" }, seen)
      assert.equal("/x -> /y: no such file or directory", e.message)
      assert.equal("/x", e.path)
      assert.equal("rename", e.op)
      -- Not called on success.
      local _, ok = returning("fine")
      local w2 = util.io(ok, "rename", 2, { where = error })
      assert.equal("fine", w2("a", "b"))
    end)

  it("refuses a shape it has no wrapper for, at the caller's line",
    function()
      raises_at_line(function() util.io(print, "x", 2, { results = 3 }) end,
                     "loom._util.io: no wrapper of shape 2:3 "
                     .. "(arguments:results)")
      assert.has_error(function() util.io(print, "x", 4) end)
      assert.has_error(function() util.io(print, "x") end)
    end)

  it("registers its wrappers: argument errors of the C function are the "
     .. "caller's", function()
    -- core.udp_bind checks its arguments before it needs a loop.
    local bind = util.io(core.udp_bind, "bind", 2)
    raises_at_line(function() bind("127.0.0.1", "x") end,
                   "bad argument #2 to 'bind' (integer port expected, got "
                   .. "string)")
    -- Called as a method, arguments count after self.
    local obj = { open = util.io(core.udp_bind, "bind", 3) }
    raises_at_line(function() obj:open(0) end,
                   "calling 'open' on bad self (string expected, got table)")
  end)

  it("makes fixed-arity wrappers (no varargs: the I/O hot path)",
    function()
      -- Each wrapper is a fixed-arity Lua function.
      local _, raw = returning(1)
      for nargs = 1, 3 do
        local info = debug.getinfo(util.io(raw, "op", nargs), "u")
        assert.equal(nargs, info.nparams)
        assert.is_false(info.isvararg)
      end
    end)
end)

describe("the I/O modules' wrappers", function()
  it("raise IOErrors through util (loom.fs: path in message and e.path)",
    S.async(function()
      local p = "/nonexistent-loom-util-spec/x"
      local e = S.catch(loom.fs.stat, p)
      assert.is_true(IOError:is(e))
      assert.equal("ENOENT", e.code)
      assert.equal("stat", e.op)
      assert.equal(p, e.path)
      assert.equal(p .. ": ", e.message:sub(1, #p + 2))
    end))

  it("no module exports stream._raise any more", function()
    assert.is_nil(require("loom.stream")._raise)
  end)
end)
