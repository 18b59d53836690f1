-- Regression 14 (test_nested_timeouts_loop_busy; TO-12): both deadlines
-- pass during one stretch without checkpoints; the outer timeout must not
-- be lost behind the inner one, and raises within bounded time.
local loom = require "loom"
local S = require "spec.support"

local function busy(seconds)
  local t0 = loom.now()
  repeat until loom.now() - t0 >= seconds
end

describe("regression 14: outer timeout lost behind an inner one", function()
  it("both expired in one busy stretch: the outer raises at once",
    S.async(function()
      local t0 = loom.now()
      local inner
      local e = S.catch(loom.timeout, 0.02, function()
        local _, err = pcall(loom.timeout, 0.01, function()
          busy(0.03)
          loom.checkpoint()
        end)
        inner = err
        loom.sleep(1)
      end)
      assert.is_true(loom.TimeoutError:is(e))
      assert.is_false(loom.TimeoutError:is(inner))
      assert.is_true(loom.is_cancelled(inner))
      assert.is_true(loom.now() - t0 < 0.03 + 0.25)
    end))

  it("the inner expired first: it raises, then the outer fires at its own "
     .. "deadline", S.async(function()
    local t0 = loom.now()
    local inner
    local e = S.catch(loom.timeout, 0.05, function()
      inner = S.catch(loom.timeout, 0.01, function() loom.sleep(1) end)
      busy(0.06)
      loom.checkpoint()
    end)
    assert.is_true(loom.TimeoutError:is(inner))
    assert.is_true(loom.TimeoutError:is(e))
    assert.is_true(loom.now() - t0 < 0.06 + 0.25)
  end))
end)
