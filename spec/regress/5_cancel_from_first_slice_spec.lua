-- Regression 5 (gh-155418): a child that cancels its group in its first
-- synchronous slice, before any suspension, must not hang the join.
local loom = require "loom"
local S = require "spec.support"

describe("regression 5: cancelling the group from a child's first slice",
         function()
  it("the group ends promptly, its other children cancelled",
    S.async(function()
      local t0 = loom.now()
      local sib
      local r = table.pack(loom.with_group(function(g)
        g:spawn(function() g:cancel() end)
        sib = g:spawn(loom.sleep, 10)
        return "body"
      end))
      assert.same({ n = 1, "body" }, r)
      assert.equal("cancelled", sib.status)
      assert.is_true(loom.now() - t0 < 0.25)
    end))

  it("also when it is the only child and the body waits", S.async(function()
    local t0 = loom.now()
    local r = table.pack(loom.with_group(function(g)
      g:spawn(function() g:cancel() end)
      loom.sleep(10)
    end))
    assert.equal(0, r.n)
    assert.is_true(loom.now() - t0 < 0.25)
  end))

  it("also when the child cancels its group and then fails", S.async(function()
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(function() g:cancel(); error("after cancel", 0) end)
      g:spawn(loom.sleep, 10)
    end)
    assert.is_false(ok)
    assert.same({ "after cancel" }, eg.errors)
  end))
end)
