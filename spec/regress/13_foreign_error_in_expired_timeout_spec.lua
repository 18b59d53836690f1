-- Regression 13 (gh-96037; TO-17, TO-18): an expired timeout whose body
-- ends with another error lets that error through unchanged (not a
-- TimeoutError); with a group inside, the ErrorGroup of the failed cleanup
-- comes out.
local loom = require "loom"
local S = require "spec.support"
local vasync = S.vasync

describe("regression 13: foreign error during an expired timeout",
         function()
  it("the foreign error wins, with its identity", vasync(function()
    local E = {}
    local s0
    local e = S.catch(loom.timeout, 0.01, function(s)
      s0 = s
      local ok = pcall(loom.sleep, 1)
      assert(not ok)
      error(E)
    end)
    assert.equal(E, e)
    assert.is_true(s0:expired())
    assert.is_false(s0.cancelled_caught)
  end))

  it("a <close> handler raising during the timeout's cancellation wins",
    vasync(function()
      local e = S.catch(loom.timeout, 0.01, function()
        local _ <close> = setmetatable({}, { __close = function()
          error("close failed", 0)
        end })
        loom.sleep(1)
      end)
      assert.equal("close failed", e)
    end))

  it("TO-18: body raised, awaits in cleanup, the timeout fires, a child "
     .. "crashes in cleanup: ErrorGroup with the child's and the body's "
     .. "errors", vasync(function()
      local e = S.catch(loom.timeout, 0.02, function()
        loom.with_group(function(g)
          g:spawn(function()
            local ok = pcall(loom.sleep, 1)
            assert(not ok)
            error("child cleanup", 0)
          end)
          local _ <close> = setmetatable({}, { __close = function()
            pcall(loom.sleep, 1)   -- cut short by the cancellation
          end })
          loom.sleep(0.01)
          error("body", 0)
        end)
      end)
      assert.is_true(loom.ErrorGroup:is(e))
      assert.same({ "body", "child cleanup" }, e.errors)
    end))
end)
