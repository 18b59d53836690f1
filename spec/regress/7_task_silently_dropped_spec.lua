-- Regression 7 (gh-116048; SP-06): a child cancelled before its first run
-- must still start, so that its cleanup sees the Cancelled.
local loom = require "loom"
local S = require "spec.support"

local function child(log)
  return function()
    log("started")
    local _ <close> = setmetatable({}, { __close = function(_, e)
      log(loom.is_cancelled(e) and "cleanup saw Cancelled" or "cleanup")
    end })
    local ok, e = pcall(loom.checkpoint)
    log(ok and "not cancelled" or "pcall saw Cancelled")
    error(e, 0)
  end
end

describe("regression 7: task cancelled before its first run", function()
  it("cancelled by t:cancel()", S.async(function()
    local log = S.recorder()
    loom.with_group(function(g)
      local t = g:spawn(child(log))
      t:cancel()
      assert.equal("cancelled", t:wait())
    end)
    assert.same({ "started", "pcall saw Cancelled", "cleanup saw Cancelled" },
                log.list)
  end))

  it("cancelled by g:cancel()", S.async(function()
    local log = S.recorder()
    local t
    loom.with_group(function(g)
      t = g:spawn(child(log))
      g:cancel()
    end)
    assert.equal("cancelled", t.status)
    assert.same({ "started", "pcall saw Cancelled", "cleanup saw Cancelled" },
                log.list)
  end))

  it("spawned into a group whose enclosing scope is already cancelled",
    S.async(function()
      local log = S.recorder()
      loom.scope(function(s)
        s:cancel()
        loom.with_group(function(g) g:spawn(child(log)) end)
      end)
      assert.same({ "started", "pcall saw Cancelled",
                    "cleanup saw Cancelled" }, log.list)
    end))
end)
