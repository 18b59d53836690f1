-- Regression 15 (trio#1175; CS-08): a scope that was never cancelled must
-- never swallow a Cancelled, even if its shield is switched on while the
-- Cancelled passes through it.
local loom = require "loom"
local S = require "spec.support"

describe("regression 15: an uncancelled scope swallowing Cancelled",
         function()
  it("shield switched on during the unwinding does not catch it",
    S.async(function()
      local mid, outer, between = nil, nil, false
      loom.scope(function(o)
        outer = o
        loom.scope(function(m)
          mid = m
          local _ <close> = setmetatable({}, { __close = function()
            m.shield = true
          end })
          o:cancel()
          loom.sleep(1)
        end)
        between = true
      end)
      assert.is_false(between)
      assert.is_false(mid.cancelled_caught)
      assert.is_true(outer.cancelled_caught)
    end))

  it("a group whose body switches a shield on while unwinding does not "
     .. "catch it either", S.async(function()
    local between = false
    loom.scope(function(o)
      loom.with_group(function()
        loom.scope(function(m)
          local _ <close> = setmetatable({}, { __close = function()
            m.shield = true
          end })
          o:cancel()
          loom.sleep(1)
        end)
      end)
      between = true
    end)
    assert.is_false(between)
  end))
end)
