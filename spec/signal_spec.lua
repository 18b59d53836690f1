-- loom.signal (lua/loom/signal.lua, csrc/signal.c). The signals are sent
-- to this very process by a `kill` child.
local loom = require "loom"
local S = require "spec.support"
local IO = require "spec.io_support"

local async, signal_self = IO.async, IO.signal_self

describe("loom.signal.wait", function()
  it("returns when the signal comes, with its name", async(function()
    local got
    loom.with_group(function(g)
      g:spawn(function() got = loom.signal.wait("SIGUSR1") end)
      loom.sleep(0.02)
      signal_self("USR1")
    end)
    assert.equal("SIGUSR1", got)
  end))

  it("wakes every task waiting for that signal only", async(function()
    local rec = S.recorder()
    loom.with_group(function(g)
      for i = 1, 3 do
        g:spawn(function() loom.signal.wait("SIGUSR2"); rec(i) end)
      end
      local other = g:spawn(function() loom.signal.wait("SIGHUP") end)
      loom.sleep(0.02)
      signal_self("USR2")
      loom.sleep(0.05)
      other:cancel()
    end)
    table.sort(rec.list)
    assert.same({ 1, 2, 3 }, rec.list)
  end))

  it("accepts a number", async(function()
    local got
    loom.with_group(function(g)
      g:spawn(function() got = loom.signal.wait(10) end)   -- SIGUSR1
      loom.sleep(0.02)
      signal_self("USR1")
    end)
    assert.equal("SIGUSR1", got)
  end))

  it("cancelled while blocked leaves no waiter; a signal then is dropped",
     async(function()
    assert.is_nil(loom.move_on_after(0.05, function()
      return loom.signal.wait("SIGUSR1")
    end))
    signal_self("USR1")   -- would kill the process if not caught
    loom.sleep(0.05)
    local got
    loom.with_group(function(g)
      g:spawn(function() got = loom.signal.wait("SIGUSR1") end)
      loom.sleep(0.02)
      signal_self("USR1")
    end)
    assert.equal("SIGUSR1", got)   -- the earlier one was not queued
  end))

  it("with an expired deadline raises", async(function()
    local ok, e = pcall(loom.timeout, 0, function()
      return loom.signal.wait("SIGUSR1")
    end)
    assert.is_false(ok)
    assert.is_true(loom.TimeoutError:is(e))
  end))

  it("under a shield goes on", async(function()
    local got
    loom.with_group(function(g)
      g:spawn(function() loom.sleep(0.05); signal_self("USR2") end)
      loom.scope(function(sc)
        sc:cancel()
        loom.shield(function() got = loom.signal.wait("SIGUSR2") end)
      end)
    end)
    assert.equal("SIGUSR2", got)
  end))

  it("keeps loom.run alive while it waits (no deadlock)", async(function()
    local got
    loom.with_group(function(g)
      g:spawn(function() got = loom.signal.wait("SIGUSR1") end)
      -- A sender loom knows nothing about: only the wait keeps the loop up.
      os.execute("(sleep 0.1; kill -USR1 " .. IO.pid .. ") &")
    end)
    assert.equal("SIGUSR1", got)
  end))

  it("rejects unknown signals; SIGKILL cannot be waited for",
     async(function()
    assert.matches("unknown signal", S.catch(loom.signal.wait, "SIGNOPE"))
    IO.argerror(function() loom.signal.wait("SIGNOPE") end,
                "bad argument #1 to 'wait' (unknown signal 'SIGNOPE')")
    IO.argerror(function() loom.signal.wait(0) end,
                "bad argument #1 to 'wait' (bad signal number)")
    assert.matches("bad signal", S.catch(loom.signal.wait, 0))
    local e = S.catch(loom.signal.wait, "SIGKILL")
    assert.is_true(loom.IOError:is(e))
    assert.equal("EINVAL", e.code)
    assert.equal("signal", e.op)
  end))

  it("raises outside of a task", function()
    assert.matches("outside of a loom task",
                   S.catch(loom.signal.wait, "SIGUSR1"))
  end)
end)
