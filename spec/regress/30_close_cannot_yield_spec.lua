-- Regression 30 (Lua): cleanup run by a hard close (coroutine.close) cannot
-- wait. A <close> handler that tries to must get a clear error, without
-- corrupting the scheduler. Hard closes happen to a task that calls
-- coroutine.yield() and to a task left blocked forever under a shield
-- after loom.run found a deadlock.
local loom = require "loom"
local S = require "spec.support"

describe("regression 30: coroutine.close cleanup cannot yield", function()
  it("a task calling coroutine.yield(): its waiting <close> handler gets "
     .. "a clear error", S.async(function()
    local msg
    pcall(loom.with_group, function(g)
      g:spawn(function()
        local _ <close> = setmetatable({}, { __close = function()
          local ok, e = pcall(loom.sleep, 0.01)
          msg = ok and "waited" or tostring(e)
        end })
        coroutine.yield()
      end)
    end)
    assert.matches("cannot wait", msg)
    loom.sleep(0.001)
  end))

  it("a task blocked forever in a shield is hard-closed after the "
     .. "deadlock; its handler gets a clear error and the rest of the tree "
     .. "goes on: the root sees the ErrorGroup", function()
    local prev = loom.on_unhandled(function() end)
    local msg, root_saw
    local ok, e = pcall(loom.run, function()
      local ok2, eg = pcall(loom.with_group, function(g)
        g:spawn(function()
          local _ <close> = setmetatable({}, { __close = function()
            local ok3, e3 = pcall(loom.sleep, 0)
            msg = ok3 and "waited" or tostring(e3)
          end })
          loom.shield(function() loom.sleep(math.huge) end)
        end)
      end)
      root_saw = ok2 and "no error" or eg
    end)
    loom.on_unhandled(prev)
    assert.is_false(ok)
    assert.matches("deadlock", tostring(e))
    assert.matches("cannot wait", msg)
    assert.is_true(loom.ErrorGroup:is(root_saw),
                   "the root task was closed too: " .. tostring(root_saw))
    assert.matches("deadlock", tostring(root_saw.errors[1]))
    require("loom.testing").assert_clean()
    assert.equal(1, loom.run(function() loom.sleep(0); return 1 end))
  end)

  it("a deadlock without shields is resolved by cancelling: cleanup may "
     .. "wait under a shield", function()
    local log = {}
    local ok, e = pcall(loom.run, function()
      loom.with_group(function(g)
        g:spawn(function()
          local _ <close> = setmetatable({}, { __close = function()
            loom.shield(function() loom.sleep(0.001) end)
            log[#log + 1] = "cleanup waited"
          end })
          loom.sleep(math.huge)
        end)
      end)
    end)
    assert.is_false(ok)
    assert.matches("deadlock", tostring(e))
    assert.same({ "cleanup waited" }, log)
    require("loom.testing").assert_clean()
  end)
end)
