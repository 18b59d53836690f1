-- Regression 21 (anyio#832; BL-06): cleanup after a cancellation sees it
-- pending; a fresh shield hides it, and it is visible again after the
-- shield (test_shielded_cleanup_after_cancel).
local loom = require "loom"
local S = require "spec.support"

describe("regression 21: cleanup after a cancel", function()
  it("a shield in the cleanup hides the cancellation, which comes back "
     .. "after it", S.async(function()
    local log = S.recorder()
    local s0
    loom.scope(function(s)
      s0 = s
      s:cancel()
      local ok, e = pcall(loom.checkpoint)
      log(ok and "no cancel" or "cancelled")
      loom.shield(function()
        loom.checkpoint()
        loom.sleep(0.01)
        log("shielded cleanup ran")
      end)
      log(loom.is_cancelled(S.catch(loom.checkpoint)) and "visible again"
          or "lost")
      error(e, 0)
    end)
    assert.same({ "cancelled", "shielded cleanup ran", "visible again" },
                log.list)
    assert.is_true(s0.cancelled_caught)
  end))

  it("the same in a <close> handler", S.async(function()
    local log = S.recorder()
    loom.scope(function(s)
      local _ <close> = setmetatable({}, { __close = function()
        loom.shield(function()
          loom.sleep(0.01)
          log("close handler waited")
        end)
        log(loom.is_cancelled(S.catch(loom.checkpoint)) and "visible again"
            or "lost")
      end })
      s:cancel()
      loom.checkpoint()
    end)
    assert.same({ "close handler waited", "visible again" }, log.list)
  end))
end)
