-- Regression 6 (gh-128550, gh-128588, anyio#155; doc/SEMANTICS.md SP-08,
-- SP-09): a child
-- spawned by another child fails at once; the spawning child must be
-- cancelled at its next wait, and the group raise {that error}. A child
-- failing before its first yield cancels its siblings whatever the spawn
-- order.
local loom = require "loom"
local S = require "spec.support"

describe("regression 6: failing child created during another's creation",
         function()
  it("B spawns C, which fails at once: B is cancelled, the group raises "
     .. "{C's error} (SP-09)", S.async(function()
    local b_state
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(function()
        g:spawn(error, "C failed", 0)
        local ok2, e = pcall(loom.sleep, 10)
        b_state = ok2 and "slept" or (loom.is_cancelled(e) and "cancelled")
        error(e, 0)
      end)
    end)
    assert.is_false(ok)
    assert.same({ "C failed" }, eg.errors)
    assert.equal("cancelled", b_state)
  end))

  it("the same with C spawned into a nested group of B", S.async(function()
    local t0 = loom.now()
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(function()
        loom.with_group(function(g2)
          g2:spawn(error, "C failed", 0)
          loom.sleep(10)
        end)
      end)
      g:spawn(loom.sleep, 10)
    end)
    assert.is_false(ok)
    assert.equal(1, #eg.errors)
    assert.same({ "C failed" }, eg.errors[1].errors)
    assert.is_true(loom.now() - t0 < 0.25)
  end))

  it("a child failing before its first yield, spawned first or last, "
     .. "ends the group promptly (SP-08)", S.async(function()
    for _, order in ipairs { "first", "last" } do
      local t0 = loom.now()
      local ok, eg = pcall(loom.with_group, function(g)
        if order == "first" then g:spawn(error, "early", 0) end
        for _ = 1, 3 do g:spawn(loom.sleep, 10) end
        if order == "last" then g:spawn(error, "early", 0) end
        loom.sleep(10)
      end)
      assert.is_false(ok)
      assert.same({ "early" }, eg.errors)
      assert.is_true(loom.now() - t0 < 0.25, order)
    end
  end))
end)
