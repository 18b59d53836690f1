-- Regression 8 (gh-94398, gh-115957, gh-150355; SP-02, SP-04): spawning
-- into a cancelled or failing group that is still open works (cleanup code
-- that spawns must not blow up); spawning after close raises 'closed' and
-- keeps no reference to the function or its arguments.
local loom = require "loom"
local S = require "spec.support"

describe("regression 8: spawning while a group shuts down", function()
  it("into a cancelled, open group: the task is made and cancelled at its "
     .. "first checkpoint", S.async(function()
    local log = S.recorder()
    loom.with_group(function(g)
      g:spawn(function()
        local _, e = pcall(loom.sleep, 10)
        g:spawn(function()
          log("spawned in cleanup ran")
          local ok2 = pcall(loom.checkpoint)
          log(ok2 and "not cancelled" or "cancelled")
        end)
        error(e, 0)
      end)
      loom.sleep(0)
      g:cancel()
    end)
    assert.same({ "spawned in cleanup ran", "cancelled" }, log.list)
  end))

  it("into a failing, open group: works and the group still fails with "
     .. "the original error", S.async(function()
    local ran = false
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(error, "boom", 0)
      local ok2 = pcall(loom.sleep, 10)
      assert(not ok2)
      local t = g:spawn(function() ran = true end)
      assert.is_not_nil(t)
    end)
    assert.is_false(ok)
    assert.same({ "boom" }, eg.errors)
    assert.is_true(ran)
  end))

  it("after close raises 'closed', also from start, and releases the "
     .. "function and its arguments", S.async(function()
    local G
    loom.with_group(function(g) G = g end)
    local weak = setmetatable({}, { __mode = "v" })
    do
      local fn, arg = function() end, {}
      weak[1], weak[2] = fn, arg
      assert.matches("closed", tostring(S.catch(G.spawn, G, fn, arg)))
      assert.matches("closed", tostring(S.catch(G.start, G, fn, arg)))
    end
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
    assert.is_nil(weak[2])
  end))

  it("after a failed close raises 'closed' too", S.async(function()
    local G
    pcall(loom.with_group, function(g) G = g; error("x") end)
    assert.matches("closed", tostring(S.catch(G.spawn, G, print)))
  end))
end)
