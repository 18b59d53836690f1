-- Regression (issue 10, item 5): a plain coroutine.yield() in a task ends
-- it with an error; its traceback must say where the task yielded (it
-- said "no traceback: the task was closed").
local loom = require "loom"
local S = require "spec.support"

describe("a stray coroutine.yield() in a task", function()
  it("is reported with the traceback of the yield", S.async(function()
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(function()
        coroutine.yield("x")   -- the line the traceback must name
      end)
    end)
    assert.is_false(ok)
    assert.truthy(eg.errors[1]:find("coroutine.yield", 1, true))
    local tb = eg.tracebacks[1]
    assert.truthy(tb:find("stack traceback", 1, true))
    assert.truthy(tb:find("issue10_05_stray_yield_traceback_spec.lua:11",
                          1, true))
  end))
end)
