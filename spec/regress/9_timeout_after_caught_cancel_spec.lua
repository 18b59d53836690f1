-- Regression 9 (gh-102780; TO-21): once a cancellation has been caught by
-- its scope, a new timeout works (TimeoutError), and a new explicit cancel
-- inside a timeout surfaces as a Cancelled of that scope, not a
-- TimeoutError. A timeout in shielded cleanup of an expired timeout raises
-- its own TimeoutError there, then the outer one raises too.
local loom = require "loom"
local S = require "spec.support"
local vasync = S.vasync

describe("regression 9: timeout after a caught cancellation", function()
  it("timeout(0) after a caught cancel raises TimeoutError", S.async(function()
    loom.scope(function(s) s:cancel(); loom.checkpoint() end)
    loom.move_on_after(0, loom.checkpoint)
    local e = S.catch(loom.timeout, 0, loom.checkpoint)
    assert.is_true(loom.TimeoutError:is(e))
  end))

  it("a new explicit cancel inside a timeout after a caught cancel gives "
     .. "Cancelled to its scope, no TimeoutError", vasync(function()
    loom.scope(function(s) s:cancel(); loom.checkpoint() end)
    local s0
    local r = table.pack(loom.scope(function(s)
      s0 = s
      loom.timeout(1, function()
        s:cancel()
        loom.sleep(2)
      end)
    end))
    assert.equal(0, r.n)
    assert.is_true(s0.cancelled_caught)
  end))

  it("a timeout nested in the shielded cleanup of an expired timeout "
     .. "raises its own TimeoutError, then the outer raises", vasync(function()
    local inner
    local e = S.catch(loom.timeout, 0.01, function()
      local ok, err = pcall(loom.sleep, 1)
      assert(not ok)
      loom.shield(function()
        inner = S.catch(loom.timeout, 0.01, function() loom.sleep(1) end)
      end)
      error(err, 0)
    end)
    assert.is_true(loom.TimeoutError:is(inner))
    assert.is_true(loom.TimeoutError:is(e))
    assert.are_not.equal(inner, e)
  end))
end)
