-- Error values (README, "Errors"): the classes and Class:is, is_cancelled,
-- ErrorGroup's errors/tracebacks/leaves/has, and every __tostring.
-- Codes in test names, such as (AG-07), name behaviours of
-- doc/SEMANTICS.md.
local loom = require "loom"
local S = require "spec.support"

-- A group failing with the errors raised by `fns`: one child each, spawned
-- in order; each raises in its first slice (before any checkpoint), so all
-- of them raise, in that order.
local function fail_group(opts, fns)
  local ok, eg = pcall(loom.with_group, opts, function(g)
    for _, fn in ipairs(fns) do g:spawn(fn) end
  end)
  assert(not ok, "the group was expected to fail")
  return eg
end

local function indent(s, pad) return (s:gsub("\n", "\n" .. pad)) end

describe("error classes", function()
  local classes = { "Cancelled", "TimeoutError", "ErrorGroup", "TaskCancelled",
                    "IOError", "Interrupted" }

  it("exist as loom.<Class> with an is method", function()
    for _, name in ipairs(classes) do
      local C = loom[name]
      assert.is_not_nil(C, name)
      assert.equal("function", type(C.is), name)
    end
  end)

  it("Class:is returns a boolean false for nil, strings, numbers, booleans, "
     .. "plain tables, functions, threads and userdata", function()
    local values = { n = 9, nil, "loom.Cancelled", 42, true, false, {},
                     setmetatable({}, {}), print, coroutine.create(print),
                     io.stdout }
    for _, name in ipairs(classes) do
      for i = 1, values.n do
        local r = loom[name]:is(values[i])
        assert.equal(false, r, name .. " on " .. tostring(values[i]))
      end
      assert.equal(false, loom[name]:is())
    end
  end)

  it("Class:is is false on loom's own non-error values (Task, Scope, Group)",
    S.async(function()
      local t = loom.current_task()
      loom.with_group(function(g)
        loom.scope(function(s)
          for _, name in ipairs(classes) do
            assert.is_false(loom[name]:is(t))
            assert.is_false(loom[name]:is(g))
            assert.is_false(loom[name]:is(s))
          end
        end)
      end)
    end))

  it("Class:is recognises exactly its own values", S.async(function()
    local cancelled
    loom.scope(function(s)
      s:cancel()
      cancelled = S.catch(loom.checkpoint)
    end)
    local timeout = S.catch(loom.timeout, 0, loom.checkpoint)
    local eg = fail_group(nil, { function() error("x") end })
    local tc
    loom.with_group(function(g)
      local t = g:spawn(loom.sleep, 10)
      t:cancel()
      tc = S.catch(t.join, t)
    end)
    local io_err = loom.IOError.new("ENOENT", "no such file", "open")
    local values = { Cancelled = cancelled, TimeoutError = timeout,
                     ErrorGroup = eg, TaskCancelled = tc, IOError = io_err }
    for cname, v in pairs(values) do
      for _, name in ipairs(classes) do
        assert.equal(cname == name, loom[name]:is(v), name .. ":is(" ..
                     cname .. ")")
      end
    end
  end))

  it("tostring of a class is its name", function()
    for _, name in ipairs(classes) do
      assert.equal("loom." .. name, tostring(loom[name]))
    end
  end)
end)

describe("loom.is_cancelled", function()
  it("is loom.Cancelled:is", S.async(function()
    local values = { "x", {}, 1 }
    loom.scope(function(s)
      s:cancel()
      values[#values + 1] = S.catch(loom.sleep, 1)
    end)
    for _, v in ipairs(values) do
      assert.equal(loom.Cancelled:is(v), loom.is_cancelled(v))
    end
    assert.is_true(loom.is_cancelled(values[#values]))
    assert.is_false(loom.is_cancelled(nil))
    assert.is_false(loom.is_cancelled())
  end))

  it("recognises the Cancelled of an explicit cancel, a deadline, a group "
     .. "and a task cancel", S.async(function()
    local got = {}
    loom.scope(function(s) s:cancel(); got[1] = S.catch(loom.checkpoint) end)
    loom.move_on_after(0, function() got[2] = S.catch(loom.checkpoint) end)
    loom.with_group(function(g)
      g:cancel()
      got[3] = S.catch(loom.checkpoint)
    end)
    loom.with_group(function(g)
      g:spawn(function()
        loom.current_task():cancel()
        got[4] = S.catch(loom.checkpoint)
      end)
    end)
    assert.equal(4, #got)
    for i = 1, 4 do assert.is_true(loom.is_cancelled(got[i]), i) end
  end))

  it("is false for a TimeoutError, a TaskCancelled and an ErrorGroup",
    S.async(function()
      assert.is_false(loom.is_cancelled(S.catch(loom.timeout, 0,
                                                 loom.checkpoint)))
      loom.with_group(function(g)
        local t = g:spawn(loom.sleep, 10)
        t:cancel()
        assert.is_false(loom.is_cancelled(S.catch(t.join, t)))
      end)
      assert.is_false(loom.is_cancelled(fail_group(nil, {
        function() error("x") end })))
    end))
end)

describe("loom.Cancelled values", function()
  it("cannot be forged: the metatable is protected (CS-15)",
    S.async(function()
      local c
      loom.scope(function(s) s:cancel(); c = S.catch(loom.checkpoint) end)
      assert.equal("string", type(getmetatable(c)))
      assert.has_error(function() setmetatable(c, nil) end)
      assert.is_false(loom.is_cancelled(setmetatable({}, { __index = c })))
      assert.is_false(loom.is_cancelled({ message = c.message }))
    end))

  it("a re-raised caught Cancelled is still recognised", S.async(function()
    local r = table.pack(loom.scope(function(s)
      s:cancel()
      local e = S.catch(loom.checkpoint)
      error(e, 0)
    end))
    assert.equal(0, r.n)
  end))
end)

describe("ErrorGroup.errors", function()
  it("holds the raw error values, a table keeping its identity",
    S.async(function()
      local e1, e2 = {}, setmetatable({}, { __tostring = function()
        return "e2" end })
      local eg = fail_group(nil, { function() error(e1) end,
                                   function() error(e2) end })
      assert.equal(2, #eg.errors)
      assert.equal(e1, eg.errors[1])
      assert.equal(e2, eg.errors[2])
    end))

  it("keeps strings, numbers, false and userdata as they are (AG-07)",
    S.async(function()
      local eg = fail_group(nil, {
        function() error("plain", 0) end,
        function() error(42) end,
        function() error(false) end,
        function() error(io.stdout) end,
      })
      assert.same({ "plain", 42, false, io.stdout },
                  { eg.errors[1], eg.errors[2], eg.errors[3], eg.errors[4] })
    end))

  it("records a nil error value as a string", S.async(function()
    local eg = fail_group(nil, { function() error(nil) end,
                                 function() error("after") end })
    assert.equal(2, #eg.errors)
    assert.equal("string", type(eg.errors[1]))
    assert.matches("nil", eg.errors[1])
    assert.matches("after", eg.errors[2])
  end))

  it("records a nil error raised by the body as a string", S.async(function()
    local ok, eg = pcall(loom.with_group, function() error(nil) end)
    assert.is_false(ok)
    assert.is_true(loom.ErrorGroup:is(eg))
    assert.equal("string", type(eg.errors[1]))
  end))

  it("is in the order the errors were raised, the body's error included",
    S.async(function()
      local ok, eg = pcall(loom.with_group, function(g)
        g:spawn(function() loom.sleep(0.001); error("first", 0) end)
        g:spawn(function()
          local ok2 = pcall(loom.sleep, 10)
          assert(not ok2)
          loom.shield(function() loom.sleep(0.002) end)
          error("second", 0)
        end)
        local ok3 = pcall(loom.sleep, 10)
        assert(not ok3)
        loom.shield(function() loom.sleep(0.004) end)
        error("third", 0)
      end)
      assert.is_false(ok)
      assert.same({ "first", "second", "third" }, eg.errors)
    end))

  it("puts the body's error first when the body raised first",
    S.async(function()
      local ok, eg = pcall(loom.with_group, function(g)
        g:spawn(function()
          local ok2 = pcall(loom.sleep, 10)
          assert(not ok2)
          error("child cleanup", 0)
        end)
        loom.sleep(0.001)
        error("body", 0)
      end)
      assert.is_false(ok)
      assert.same({ "body", "child cleanup" }, eg.errors)
    end))
end)

describe("ErrorGroup.tracebacks", function()
  it("is parallel to errors and names the task where each was raised",
    S.async(function()
      local ok, eg = pcall(loom.with_group, function(g)
        local a = g:spawn(function() loom.sleep(0.001); error("a") end)
        a.name = "alpha"
        local b = g:spawn(function() loom.sleep(10); error({}) end)
        b.name = "beta"
        local ok2 = pcall(loom.sleep, 10)
        assert(not ok2)
        loom.shield(function() loom.sleep(0.005) end)
        error("body")
      end)
      assert.is_false(ok)
      assert.equal(#eg.errors, #eg.tracebacks)
      -- alpha failed first and cancelled beta and the body; beta's sleep
      -- ended with Cancelled (not an error), the body then raised.
      assert.equal(2, #eg.errors)
      assert.matches("in task 'alpha'", eg.tracebacks[1], 1, true)
      assert.matches("stack traceback", eg.tracebacks[1], 1, true)
      local root = loom.current_task().name
      assert.matches("in task '" .. root .. "'", eg.tracebacks[2], 1, true)
    end))

  it("points at the line that raised", S.async(function()
    local line
    local eg = fail_group(nil, { function()
      line = debug.getinfo(1, "l").currentline + 1
      error({})
    end })
    assert.matches("errors_spec.lua:" .. line .. ":", eg.tracebacks[1], 1,
                   true)
  end))

  it("keeps the original traceback when the error passes through scopes",
    S.async(function()
      local line
      local E = {}
      local eg = fail_group(nil, { function()
        loom.scope(function()
          loom.timeout(10, function()
            loom.shield(function()
              line = debug.getinfo(1, "l").currentline + 1
              error(E)
            end)
          end)
        end)
      end })
      assert.equal(E, eg.errors[1])
      assert.matches("errors_spec.lua:" .. line .. ":", eg.tracebacks[1], 1,
                     true)
    end))
end)

describe("ErrorGroup:leaves", function()
  it("flattens nested groups, in order", S.async(function()
    local e1, e2, e3 = {}, {}, {}
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(function() loom.sleep(10); error(e1) end)
      g:spawn(function()
        loom.with_group(function(g2)
          g2:spawn(function() error(e2) end)
          g2:spawn(function() error(e3) end)
        end)
      end)
    end)
    assert.is_false(ok)
    -- the nested group failed first, and the outer group, cancelled by the
    -- nested ErrorGroup, cancelled the sleeper before it raised e1.
    assert.equal(1, #eg.errors)
    assert.is_true(loom.ErrorGroup:is(eg.errors[1]))
    local leaves = eg:leaves()
    assert.same({ e2, e3 }, leaves)
    for i = 1, #leaves do assert.equal(({ e2, e3 })[i], leaves[i]) end
  end))

  it("returns a fresh array of the leaves of a flat group", S.async(function()
    local e1 = {}
    local eg = fail_group(nil, { function() error(e1) end })
    local l1, l2 = eg:leaves(), eg:leaves()
    assert.equal(e1, l1[1])
    assert.equal(1, #l1)
    assert.are_not.equal(l1, l2)
  end))
end)

describe("ErrorGroup:has", function()
  it("matches a leaf against an error class", S.async(function()
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(function()
        loom.with_group(function(g2)
          g2:spawn(function() error(loom.IOError.new("EPIPE", "x", "w")) end)
        end)
      end)
    end)
    assert.is_false(ok)
    assert.is_true(eg:has(loom.IOError))
    assert.is_false(eg:has(loom.TimeoutError))
    -- A group itself is not a leaf.
    assert.is_false(eg:has(loom.ErrorGroup))
  end))

  it("matches a leaf against a predicate", S.async(function()
    local eg = fail_group(nil, { function() error({ code = 7 }) end,
                                 function() error("text") end })
    assert.is_true(eg:has(function(e) return type(e) == "table" and
                                             e.code == 7 end))
    assert.is_true(eg:has(function(e) return e == "text" or
                              (type(e) == "string" and e:match("text$")) end))
    assert.is_false(eg:has(function(e) return e == "missing" end))
  end))

  it("leaves and has called without the colon raise an argument error",
    S.async(function()
      local eg = fail_group(nil, { function() error("x") end })
      for _, f in ipairs {
        function() return eg.leaves() end,
        function() return eg.leaves(3) end,
        function() return eg.has(loom.IOError) end,
        function() return eg.has(3, loom.IOError) end,
      } do
        assert.matches("bad argument #1", tostring(S.catch(f)))
      end
    end))

  it("rejects an argument that is neither a class nor a function",
    S.async(function()
      local eg = fail_group(nil, { function() error("x") end })
      local e = S.catch(function() return eg:has(3) end)
      assert.matches("bad argument", tostring(e))
    end))
end)

describe("tostring of error values", function()
  it("ErrorGroup: header with the group name and count, then numbered "
     .. "entries with their traceback (snapshot)", S.async(function()
    local eg = fail_group({ name = "batch" }, {
      function() error("boom", 0) end,
      function() error(setmetatable({}, { __tostring = function()
        return "custom\nerror" end })) end,
    })
    local expected = table.concat({
      "loom.ErrorGroup: 2 errors in group 'batch'",
      "  [1] boom",
      "      " .. indent(eg.tracebacks[1], "      "),
      "  [2] custom",
      "      error",
      "      " .. indent(eg.tracebacks[2], "      "),
    }, "\n")
    assert.equal(expected, tostring(eg))
    assert.equal(tostring(eg), tostring(eg))
  end))

  it("ErrorGroup: one error, no name, nested group indented (snapshot)",
    S.async(function()
      local ok, eg = pcall(loom.with_group, function(g)
        g:spawn(function()
          loom.with_group({ name = "inner" }, function(g2)
            g2:spawn(function() error("deep", 0) end)
          end)
        end)
      end)
      assert.is_false(ok)
      local inner = eg.errors[1]
      local expected = table.concat({
        "loom.ErrorGroup: 1 error",
        "  [1] " .. indent(tostring(inner), "      "),
        "      " .. indent(eg.tracebacks[1], "      "),
      }, "\n")
      assert.equal(expected, tostring(eg))
      assert.equal(table.concat({
        "loom.ErrorGroup: 1 error in group 'inner'",
        "  [1] deep",
        "      " .. indent(inner.tracebacks[1], "      "),
      }, "\n"), tostring(inner))
    end))

  it("ErrorGroup: an entry whose __tostring fails does not break it",
    S.async(function()
      local eg = fail_group(nil, { function()
        error(setmetatable({}, { __tostring = function() error("no") end }))
      end })
      local s = tostring(eg)
      assert.matches("^loom.ErrorGroup: 1 error\n  %[1%] ", s)
    end))

  it("Cancelled reads 'loom.Cancelled: <reason>'", S.async(function()
    loom.scope(function(s)
      s:cancel()
      assert.equal("loom.Cancelled: the scope was cancelled",
                   tostring(S.catch(loom.checkpoint)))
    end)
    loom.move_on_after(0, function()
      assert.equal("loom.Cancelled: deadline exceeded",
                   tostring(S.catch(loom.checkpoint)))
    end)
  end))

  it("TimeoutError reads 'loom.TimeoutError: deadline exceeded'",
    S.async(function()
      assert.equal("loom.TimeoutError: deadline exceeded",
                   tostring(S.catch(loom.timeout, 0, loom.checkpoint)))
    end))

  it("TaskCancelled names the task", S.async(function()
    loom.with_group(function(g)
      local t = g:spawn(loom.sleep, 10)
      t.name = "sleeper"
      t:cancel()
      local e = S.catch(t.join, t)
      assert.equal("loom.TaskCancelled: task 'sleeper' was cancelled",
                   tostring(e))
    end)
  end))

  it("IOError reads 'loom.IOError: <op>: <message> (<code>)'", function()
    local e = loom.IOError.new("ECONNREFUSED", "connection refused",
                               "connect")
    assert.equal("loom.IOError: connect: connection refused (ECONNREFUSED)",
                 tostring(e))
    assert.same({ "ECONNREFUSED", "connection refused", "connect" },
                { e.code, e.message, e.op })
    assert.is_true(loom.IOError:is(e))
  end)

  it("Interrupted reads 'loom.Interrupted: <message>'", function()
    local mt = require("loom.core").metatables.Interrupted
    local e = setmetatable({ message = "interrupted (SIGINT)" }, mt)
    assert.equal("loom.Interrupted: interrupted (SIGINT)", tostring(e))
    assert.is_true(loom.Interrupted:is(e))
  end)
end)

describe("TimeoutError and TaskCancelled values", function()
  it("a TimeoutError is new at each boundary and carries the deadline",
    S.async(function()
      local t0 = loom.now()
      local e1 = S.catch(loom.timeout, 0, loom.checkpoint)
      local e2 = S.catch(loom.timeout, 0, loom.checkpoint)
      assert.are_not.equal(e1, e2)
      assert.is_number(e1.deadline)
      assert.is_true(e1.deadline >= t0 and e1.deadline <= loom.now())
    end))

  it("a TaskCancelled refers to the task", S.async(function()
    loom.with_group(function(g)
      local t = g:spawn(loom.sleep, 10)
      t:cancel()
      local e = S.catch(t.join, t)
      assert.equal(t, e.task)
      local e2 = S.catch(t.result, t)
      assert.is_true(loom.TaskCancelled:is(e2))
      assert.is_false(loom.is_cancelled(e2))
    end)
  end))
end)
