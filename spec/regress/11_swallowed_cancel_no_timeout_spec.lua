-- Regression 11 (gh-111379): with level-triggered delivery, a Cancelled
-- swallowed by pcall inside a timeout is raised again at the next
-- checkpoint, and the timeout raises TimeoutError.
local loom = require "loom"
local S = require "spec.support"
local vasync = S.vasync

describe("regression 11: swallowed cancel inside a timeout", function()
  it("pcall(sleep) then sleep: the second sleep raises, TimeoutError "
     .. "follows", vasync(function()
    local log = S.recorder()
    local t0 = loom.now()
    local e = S.catch(loom.timeout, 0.01, function()
      local ok = pcall(loom.sleep, 1)
      log(ok and "slept" or "swallowed")
      loom.sleep(1)
      log("not reached")
    end)
    assert.is_true(loom.TimeoutError:is(e))
    assert.same({ "swallowed" }, log.list)
    assert.is_true(loom.now() - t0 < 0.25)
  end))

  it("swallowing in a loop: every checkpoint raises again", vasync(function()
    local n = 0
    local e = S.catch(loom.timeout, 0.01, function()
      for _ = 1, 5 do
        if not pcall(loom.sleep, 1) then n = n + 1 end
      end
      loom.checkpoint()
    end)
    assert.is_true(loom.TimeoutError:is(e))
    assert.equal(5, n)
  end))
end)
