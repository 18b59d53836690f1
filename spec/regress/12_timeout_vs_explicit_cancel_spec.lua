-- Regression 12 (async-timeout#229; SW-02): the deadline fired, then an
-- explicit cancel from outside arrived before the timeout was left: the
-- explicit cancel wins (Cancelled), no TimeoutError.
local loom = require "loom"
local S = require "spec.support"
local vasync = S.vasync

describe("regression 12: timeout versus an explicit cancel", function()
  it("an enclosing scope cancelled after the deadline fired catches it",
    vasync(function()
      local s0, t0
      local r = table.pack(loom.scope(function(s)
        s0 = s
        loom.timeout(0.01, function(ts)
          t0 = ts
          pcall(loom.sleep, 1)      -- the deadline fired here
          s:cancel()                -- then the explicit cancel
          loom.checkpoint()
        end)
        return "not reached"
      end))
      assert.equal(0, r.n)
      assert.is_true(t0:expired())
      assert.is_false(t0.cancelled_caught)
      assert.is_true(s0.cancelled_caught)
    end))

  it("a task cancelled after its timeout fired ends cancelled",
    vasync(function()
      local seen
      loom.with_group(function(g)
        local t
        t = g:spawn(function()
          local _, e = pcall(loom.timeout, 0.01, function()
            pcall(loom.sleep, 1)
            t:cancel()
            loom.checkpoint()
          end)
          seen = e
          error(e, 0)
        end)
        assert.equal("cancelled", t:wait())
      end)
      assert.is_true(loom.is_cancelled(seen))
    end))
end)
