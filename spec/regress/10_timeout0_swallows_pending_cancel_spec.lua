-- Regression 10 (gh-134471): task:cancel() then timeout(0) must raise the
-- task's Cancelled, not a TimeoutError; the same for a cancelled enclosing
-- scope.
local loom = require "loom"
local S = require "spec.support"

describe("regression 10: timeout(0) and an earlier pending cancel",
         function()
  it("a task cancelled before timeout(0) ends cancelled, no TimeoutError",
    S.async(function()
      local seen
      loom.with_group(function(g)
        local t = g:spawn(function()
          loom.current_task():cancel()
          local _, e = pcall(loom.timeout, 0, loom.checkpoint)
          seen = e
          error(e, 0)
        end)
        assert.equal("cancelled", t:wait())
      end)
      assert.is_true(loom.is_cancelled(seen))
      assert.is_false(loom.TimeoutError:is(seen))
    end))

  it("a cancelled enclosing scope wins over timeout(0)", S.async(function()
    local seen, s0
    loom.scope(function(s)
      s0 = s
      s:cancel()
      local _, e = pcall(loom.timeout, 0, loom.checkpoint)
      seen = e
      error(e, 0)
    end)
    assert.is_true(loom.is_cancelled(seen))
    assert.is_true(s0.cancelled_caught)
  end))

  it("also with move_on_after(0): the Cancelled goes through it",
    S.async(function()
      local after_move_on = false
      loom.scope(function(s)
        s:cancel()
        loom.move_on_after(0, loom.checkpoint)
        after_move_on = true
      end)
      assert.is_false(after_move_on)
    end))
end)
