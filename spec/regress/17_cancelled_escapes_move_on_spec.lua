-- Regression 17 (anyio#88; TO-23): after a move_on_after fired and was
-- left, later checkpoints do not raise; a new timeout works after an
-- earlier group was cancelled and left.
local loom = require "loom"
local S = require "spec.support"
local vasync = S.vasync

describe("regression 17: Cancelled escaping an exited move_on", function()
  it("later checkpoints and sleeps do not raise", vasync(function()
    local s0
    loom.move_on_after(0.01, function(s) s0 = s; loom.sleep(1) end)
    assert.is_true(s0.cancelled_caught)
    loom.checkpoint()
    loom.sleep(0.01)
    loom.sleep(0)
  end))

  it("nothing leaks when the move_on was cancelled inside a child",
    vasync(function()
      loom.with_group(function(g)
        g:spawn(function()
          loom.move_on_after(0.01, function() loom.sleep(1) end)
          loom.sleep(0.01)
          loom.checkpoint()
        end)
      end)
      loom.checkpoint()
    end))

  it("a new timeout works after an earlier group was cancelled",
    vasync(function()
      loom.with_group(function(g)
        g:spawn(loom.sleep, 1)
        g:cancel()
      end)
      assert.equal("fine", loom.timeout(1, function()
        loom.sleep(0.01)
        return "fine"
      end))
      assert.is_true(loom.TimeoutError:is(S.catch(loom.timeout, 0.01,
                                                   function()
        loom.sleep(1)
      end)))
    end))
end)
