-- Regression 20 (anyio#695, anyio#1111, test_shielded_cancel_sleep_time;
-- CS-14): delivering a cancellation must not spin. Real clock: CPU time
-- (os.clock) stays small while shielded tasks sleep in cancelled scopes.
local loom = require "loom"
local S = require "spec.support"

local function assert_idle(c0, what)
  local cpu = os.clock() - c0
  assert(cpu < 0.05, ("%s used %.3f s of CPU"):format(what, cpu))
end

describe("regression 20: busy loop delivering cancellation", function()
  it("a shielded sleep in a cancelled scope (test_shielded_cancel_sleep_"
     .. "time)", S.async(function()
    local c0, t0 = os.clock(), loom.now()
    loom.scope(function(s)
      s:cancel()
      loom.shield(function() loom.sleep(0.2) end)
    end)
    assert.is_true(loom.now() - t0 >= 0.2)
    assert_idle(c0, "a shielded sleep")
  end))

  it("nested groups cancelled around a shielded child (anyio#695)",
    S.async(function()
      local c0, t0 = os.clock(), loom.now()
      loom.move_on_after(0.01, function()
        loom.with_group(function(g)
          g:spawn(function()
            loom.with_group(function(g2)
              g2:spawn(function()
                loom.shield(function() loom.sleep(0.2) end)
              end)
              g2:spawn(loom.sleep, 10)
            end)
          end)
          g:spawn(loom.sleep, 10)
        end)
      end)
      assert.is_true(loom.now() - t0 >= 0.2)
      assert_idle(c0, "nested groups")
    end))

  it("a cancelled scope whose only task has finished (anyio#1111)",
    S.async(function()
      local c0, t0 = os.clock(), loom.now()
      loom.scope(function(s)
        loom.with_group(function(g)
          g:spawn(function() end)
          loom.sleep(0)
          s:cancel()
          loom.shield(function() loom.sleep(0.2) end)
        end)
      end)
      assert.is_true(loom.now() - t0 >= 0.2)
      assert_idle(c0, "a finished task in a cancelled scope")
    end))

  it("a task blocked in join behind a shield, its target cancelled",
    S.async(function()
      local c0 = os.clock()
      loom.with_group(function(g)
        local t = g:spawn(function()
          loom.shield(function() loom.sleep(0.2) end)
        end)
        g:cancel()
        loom.shield(function() t:wait() end)
      end)
      assert_idle(c0, "a shielded join")
    end))
end)
