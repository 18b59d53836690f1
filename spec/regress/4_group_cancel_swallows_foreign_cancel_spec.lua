-- Regression 4 (gh-155433; CH-05): a group cancelled by g:cancel() must
-- not swallow another cancellation arriving from outside while it
-- unwinds: an enclosing timeout that expires meanwhile still raises.
local loom = require "loom"
local S = require "spec.support"
local vasync = S.vasync

local function slow_cleanup_child()
  local _, e = pcall(loom.sleep, 1)
  loom.shield(function() loom.sleep(0.03) end)
  error(e, 0)
end

describe("regression 4: g:cancel() swallowing a foreign cancel", function()
  it("the timeout still raises when the body was cancelled by g:cancel()",
    vasync(function()
      local reached = false
      local e = S.catch(loom.timeout, 0.02, function()
        loom.with_group(function(g)
          g:spawn(slow_cleanup_child)
          loom.sleep(0.01)
          g:cancel()
          loom.sleep(1)
        end)
        reached = true
      end)
      assert.is_true(loom.TimeoutError:is(e))
      assert.is_false(reached)
    end))

  it("the timeout still raises when the body had returned after "
     .. "g:cancel()", vasync(function()
    local reached = false
    local e = S.catch(loom.timeout, 0.02, function()
      loom.with_group(function(g)
        g:spawn(slow_cleanup_child)
        loom.sleep(0.01)
        g:cancel()
      end)
      reached = true
    end)
    assert.is_true(loom.TimeoutError:is(e))
    assert.is_false(reached)
  end))

  it("an explicit outer cancel is not swallowed either", vasync(function()
    local reached, s0 = false, nil
    loom.scope(function(s)
      s0 = s
      loom.with_group(function(outer)
        outer:spawn(function() loom.sleep(0.02); s:cancel() end)
        loom.with_group(function(g)
          g:spawn(slow_cleanup_child)
          loom.sleep(0.01)
          g:cancel()
        end)
        reached = true
      end)
    end)
    assert.is_false(reached)
    assert.is_true(s0.cancelled_caught)
  end))
end)
