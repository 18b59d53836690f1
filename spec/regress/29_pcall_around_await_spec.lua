-- Regression 29 (Lua): pcall around a wait in a cancelled scope returns
-- false and a Cancelled that is_cancelled recognises; the next checkpoint
-- raises again.
local loom = require "loom"
local S = require "spec.support"

describe("regression 29: pcall around a wait", function()
  it("returns false, Cancelled; the next checkpoint raises again",
    S.async(function()
      loom.scope(function(s)
        s:cancel()
        local ok, e = pcall(function() loom.sleep(10) end)
        assert.is_false(ok)
        assert.is_true(loom.is_cancelled(e))
        local ok2, e2 = pcall(loom.checkpoint)
        assert.is_false(ok2)
        assert.is_true(loom.is_cancelled(e2))
      end)
    end))

  it("xpcall with a handler sees the Cancelled too", S.async(function()
    loom.scope(function(s)
      s:cancel()
      local seen
      local ok = xpcall(loom.checkpoint, function(e) seen = e; return e end)
      assert.is_false(ok)
      assert.is_true(loom.is_cancelled(seen))
    end)
  end))

  it("a task that swallows and returns ends 'ok'", S.async(function()
    loom.with_group(function(g)
      local t = g:spawn(function()
        local ok = pcall(loom.sleep, 10)
        return ok
      end)
      loom.sleep(0)
      t:cancel()
      assert.same({ "ok", false }, { t:wait() })
    end)
  end))
end)
