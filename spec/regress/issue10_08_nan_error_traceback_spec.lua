-- Regression (issue 10, item 8): error(0/0) in a child lost its traceback
-- (it was looked up with lua_rawequal, and NaN never equals itself).
local loom = require "loom"
local S = require "spec.support"

describe("a NaN error value", function()
  it("keeps its traceback in the ErrorGroup", S.async(function()
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(function() error(0 / 0) end)
    end)
    assert.is_false(ok)
    local e = eg.errors[1]
    assert.is_true(e ~= e)
    assert.truthy(eg.tracebacks[1]:find("stack traceback", 1, true))
    assert.truthy(eg.tracebacks[1]:find("issue10_08_nan_error", 1, true))
  end))

  it("in the body of a group too", S.async(function()
    local ok, eg = pcall(loom.with_group, function() error(0 / 0) end)
    assert.is_false(ok)
    assert.truthy(eg.tracebacks[1]:find("stack traceback", 1, true))
  end))
end)
