-- Regression (issue 10, item 4): cancelling a chain of nested groups, one
-- task per level, was quadratic in the depth (the reason of each
-- Cancelled was found by walking to the root). At depth 20 000 every task
-- must be reached and unwound; the time is reported by `make bench`
-- (W6), not asserted here.
local loom = require "loom"
local S = require "spec.support"

describe("cancelling 20 000 nested groups", function()
  it("reaches and unwinds every level", S.async(function()
    local N = 20000
    local reached, unwound = 0, 0
    local function level(k, ready)
      loom.with_group(function(g)
        if k < N then g:spawn(level, k + 1, ready) else ready:set() end
        reached = reached + 1
        local ok, e = pcall(loom.sleep, 1000)
        assert(not ok and loom.is_cancelled(e))
        unwound = unwound + 1
        error(e, 0)
      end)
    end
    local ready = loom.event()
    loom.with_group(function(g)
      g:spawn(level, 1, ready)
      ready:wait()
      g:cancel()
    end)
    assert.equal(N, reached)
    assert.equal(N, unwound)
  end))
end)
