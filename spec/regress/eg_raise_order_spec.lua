-- ErrorGroup keeps errors in the order they were raised, which is not the
-- order their tasks finished when cleanup waits (README, "Tasks, groups and scopes").
local loom = require "loom"
local S = require "spec.support"

describe("ErrorGroup order", function()
  it("follows raise order even when the first failing task finishes last",
    S.vasync(function()
      local e = S.catch(loom.with_group, function(g)
        g:spawn(function()
          local _ <close> = setmetatable({}, { __close = function()
            loom.shield(function() loom.sleep(0.3) end)   -- slow cleanup
          end })
          loom.sleep(0.1)
          error("first")
        end)
        g:spawn(function()
          loom.sleep(0.2)
          error("second")   -- raised later, but its task finishes first
        end)
      end)
      assert.is_true(loom.ErrorGroup:is(e))
      assert.equal(2, #e.errors)
      assert.matches("first$", e.errors[1])
      assert.matches("second$", e.errors[2])
      assert.matches("task%-%d+", e.tracebacks[1])
    end))

  it("puts the body's error in raise order too", S.vasync(function()
    local e = S.catch(loom.with_group, function(g)
      g:spawn(function() loom.sleep(0.1); error("child") end)
      local _ <close> = setmetatable({}, { __close = function()
        loom.shield(function() loom.sleep(0.2) end)
      end })
      error("body")
    end)
    assert.equal(2, #e.errors)
    assert.matches("body$", e.errors[1])
    assert.matches("child$", e.errors[2])
  end))
end)
