-- Regression 3 (GH-95704; EX-03): children that fail during their cleanup
-- after an outside cancel must surface as an ErrorGroup, not be hidden by
-- the Cancelled; also through a nested group.
local loom = require "loom"
local S = require "spec.support"
local vasync = S.vasync

local function failing_cleanup(msg)
  return function()
    local ok = pcall(loom.sleep, 1)
    assert(not ok)
    error(msg, 0)
  end
end

describe("regression 3: child errors during an outside cancel", function()
  it("the ErrorGroup wins over the cancellation", vasync(function()
    local e
    loom.scope(function(s)
      loom.with_group(function(g)
        g:spawn(function() loom.sleep(0.01); s:cancel() end)
        e = S.catch(loom.with_group, function(g2)
          g2:spawn(failing_cleanup("cleanup 1"))
          g2:spawn(failing_cleanup("cleanup 2"))
        end)
      end)
    end)
    assert.is_true(loom.ErrorGroup:is(e))
    assert.same({ "cleanup 1", "cleanup 2" }, e.errors)
  end))

  it("the body crashing in its cancel handler counts too", vasync(function()
    local e = S.catch(loom.timeout, 0.01, function()
      loom.with_group(function(g)
        g:spawn(loom.sleep, 1)
        failing_cleanup("body cleanup")()
      end)
    end)
    assert.is_true(loom.ErrorGroup:is(e))
    assert.same({ "body cleanup" }, e.errors)
  end))

  it("through a nested group: {group{error}} (test_taskgroup_11/12)",
    vasync(function()
      local e = S.catch(loom.timeout, 0.01, function()
        loom.with_group(function(g)
          g:spawn(function()
            loom.with_group(function(g2)
              g2:spawn(failing_cleanup("deep cleanup"))
            end)
          end)
        end)
      end)
      assert.is_true(loom.ErrorGroup:is(e))
      assert.equal(1, #e.errors)
      assert.is_true(loom.ErrorGroup:is(e.errors[1]))
      assert.same({ "deep cleanup" }, e.errors[1].errors)
    end))
end)
