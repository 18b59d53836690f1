-- Regression 16 (anyio#370): scopes cancelled around a shield; the
-- checkpoint after the shield must raise, in the outer and in the middle
-- scope (test_triple_nested_shield_checkpoint_in_outer / _in_middle).
local loom = require "loom"
local S = require "spec.support"

describe("regression 16: shielded triple nesting", function()
  it("checkpoint in the outer scope raises", S.async(function()
    local s1, s2
    local after = false
    loom.scope(function(scope1)
      s1 = scope1
      loom.scope(function(scope2)
        s2 = scope2
        loom.shield(function()
          scope1:cancel()
          scope2:cancel()
        end)
      end)
      loom.checkpoint()
      after = true
    end)
    assert.is_false(after)
    assert.is_true(s1.cancelled_caught)
    assert.is_false(s2.cancelled_caught)
  end))

  it("checkpoint in the middle scope raises, and the middle scope does not "
     .. "catch it", S.async(function()
    local s1, s2
    local log = S.recorder()
    loom.scope(function(scope1)
      s1 = scope1
      loom.scope(function(scope2)
        s2 = scope2
        loom.shield(function() scope1:cancel() end)
        loom.checkpoint()
        log("checkpoint did not raise")
      end)
      log("middle scope caught the cancellation")
    end)
    assert.same({}, log.list)
    assert.is_true(s1.cancelled_caught)
    assert.is_false(s2.cancelled_caught)
  end))
end)
