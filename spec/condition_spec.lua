-- loom.condition (README, "Synchronisation"). Codes in test names, such as
-- (BL-03), name behaviours of doc/SEMANTICS.md.
local loom = require "loom"
local S = require "spec.support"

-- Tests run on the virtual clock (sleeps take no real time); their
-- timing assertions also hold on the real clock (T = S.async).
local T = S.vasync

local settle = S.settle

local holds = S.holds

describe("loom.condition", function()
  it("uses the given lock as c.lock", function()
    local lk = loom.lock()
    local c = loom.condition(lk)
    assert.equal(lk, c.lock)
    assert.matches("loom.Condition", tostring(c))
  end)

  it("makes a new lock when none is given", function()
    local c1, c2 = loom.condition(), loom.condition(nil)
    assert.matches("loom.Lock", tostring(c1.lock))
    assert.is_false(c1.lock:locked())
    assert.are_not.equal(c1.lock, c2.lock)
  end)

  it("rejects a lock argument that is not a Lock", function()
    assert.matches("loom.Lock expected",
                   tostring(S.catch(loom.condition, loom.semaphore(1))))
    assert.matches("loom.Lock expected",
                   tostring(S.catch(loom.condition, 1)))
  end)

  it("methods reject a receiver that is not a Condition", function()
    local c = loom.condition()
    assert.matches("loom.Condition expected",
                   tostring(S.catch(c.notify, loom.lock())))
  end)
end)

describe("Condition:acquire, release and with", function()
  it("act on c.lock", T(function()
    local c = loom.condition()
    c:acquire()
    assert.is_true(c.lock:locked())
    assert.is_true(holds(c.lock))
    c:release()
    assert.is_false(c.lock:locked())
    local a, b = c:with(function(x)
      assert.is_true(holds(c.lock))
      return x, "y"
    end, "x")
    assert.same({"x", "y"}, {a, b})
    assert.is_false(c.lock:locked())
  end))

  it("release raises unless the task holds the lock", T(function()
    local c = loom.condition()
    assert.matches("not held", tostring(S.catch(c.release, c)))
  end))

  it("with releases when fn raises", T(function()
    local c = loom.condition()
    local err = {}
    assert.equal(err, S.catch(c.with, c, function() error(err) end))
    assert.is_false(c.lock:locked())
  end))
end)

describe("Condition:wait and notify", function()
  it("wait releases the lock, returns after a notify, holding it again",
    T(function()
      local c, rec = loom.condition(), S.recorder()
      local items = {}
      loom.with_group(function(g)
        g:spawn(function()
          c:with(function()
            while #items == 0 do c:wait() end
            assert.is_true(holds(c.lock))
            rec("consumed " .. table.remove(items, 1))
          end)
        end)
        settle()
        assert.is_false(c.lock:locked())
        c:with(function()
          items[1] = "x"
          c:notify()
          rec("notified")
        end)
      end)
      assert.same({"notified", "consumed x"}, rec.list)
      assert.is_false(c.lock:locked())
    end))

  it("wait, notify and notify_all raise unless the task holds the lock",
    T(function()
      local c = loom.condition()
      for _, m in ipairs { "wait", "notify", "notify_all" } do
        assert.matches("not held", tostring(S.catch(c[m], c)))
      end
      loom.with_group(function(g)
        c:acquire()
        g:spawn(function()
          for _, m in ipairs { "wait", "notify", "notify_all" } do
            assert.matches("held by another task",
                           tostring(S.catch(c[m], c)))
          end
        end):join()
        c:release()
      end)
    end))

  it("notify and notify_all raise outside tasks", function()
    local c = loom.condition()
    assert.matches("not held", tostring(S.catch(c.notify, c)))
    assert.matches("not held", tostring(S.catch(c.notify_all, c)))
  end)

  it("wait raises 'outside of a loom task' outside tasks", function()
    local c = loom.condition()
    assert.matches("outside of a loom task", tostring(S.catch(c.wait, c)))
  end)

  it("notify rejects a negative count", T(function()
    local c = loom.condition()
    c:with(function()
      assert.matches(">= 0", tostring(S.catch(c.notify, c, -1)))
    end)
  end))

  it("notify wakes the oldest waiter first; notify(n) wakes n; "
     .. "notify(0) none; notify_all the rest", T(function()
      local c, rec = loom.condition(), S.recorder()
      loom.with_group(function(g)
        for i = 1, 6 do
          g:spawn(function() c:with(function() c:wait(); rec(i) end) end)
          loom.sleep(0)
        end
        settle()
        c:with(function() c:notify() end)
        settle()
        assert.same({1}, rec.list)
        c:with(function() c:notify(2) end)
        settle()
        assert.same({1, 2, 3}, rec.list)
        c:with(function() c:notify(0) end)
        settle()
        assert.same({1, 2, 3}, rec.list)
        c:with(function() c:notify_all() end)
      end)
      assert.same({1, 2, 3, 4, 5, 6}, rec.list)
    end))

  it("notified waiters get the lock after tasks already waiting for it",
    T(function()
      local c, rec = loom.condition(), S.recorder()
      loom.with_group(function(g)
        g:spawn(function() c:with(function() c:wait(); rec("waiter") end) end)
        settle()
        c:acquire()
        g:spawn(function() c:with(function() rec("acquirer") end) end)
        settle()
        c:notify()
        c:release()
      end)
      assert.same({"acquirer", "waiter"}, rec.list)
    end))

  it("notify with nobody waiting is not remembered", T(function()
    local c = loom.condition()
    c:with(function() c:notify_all() end)
    local r = loom.move_on_after(0.02, function()
      c:with(function() c:wait() end)
      return "woken"
    end)
    assert.is_nil(r)
    assert.is_false(c.lock:locked())
  end))

  it("conditions can share a lock", T(function()
    local lk = loom.lock()
    local a, b = loom.condition(lk), loom.condition(lk)
    local rec = S.recorder()
    loom.with_group(function(g)
      g:spawn(function() lk:with(function() a:wait(); rec("a") end) end)
      g:spawn(function() lk:with(function() b:wait(); rec("b") end) end)
      settle()
      lk:with(function() b:notify() end)
      settle()
      lk:with(function() a:notify() end)
    end)
    assert.same({"b", "a"}, rec.list)
  end))
end)

describe("Condition:wait cancellation", function()
  it("cancelled while waiting, re-acquires the lock before Cancelled "
     .. "propagates (BL-03)", T(function()
      local c = loom.condition()
      local held_in_handler
      loom.with_group(function(g)
        local t = g:spawn(function()
          c:acquire()
          local ok, e = pcall(c.wait, c)
          assert.is_false(ok)
          assert.is_true(loom.is_cancelled(e))
          held_in_handler = holds(c.lock)
          c:release()
          error(e, 0)
        end)
        settle()
        assert.is_false(c.lock:locked())
        t:cancel()
      end)
      assert.is_true(held_in_handler)
      assert.is_false(c.lock:locked())
    end))

  it("cancelled while another task holds the lock, waits for it before "
     .. "raising", T(function()
      local c, rec = loom.condition(), S.recorder()
      loom.with_group(function(g)
        local t = g:spawn(function()
          c:with(function()
            local ok = pcall(c.wait, c)
            rec(ok and "returned" or "raised, holding: "
                .. tostring(holds(c.lock)))
          end)
        end)
        settle()
        c:acquire()
        t:cancel()
        loom.sleep(0.02)
        rec("releasing")
        c:release()
      end)
      assert.same({"releasing", "raised, holding: true"}, rec.list)
      assert.is_false(c.lock:locked())
    end))

  it("notified, then cancelled while waiting for the lock, re-acquires "
     .. "it before raising", T(function()
      local c, rec = loom.condition(), S.recorder()
      loom.with_group(function(g)
        local t = g:spawn(function()
          c:with(function()
            local ok = pcall(c.wait, c)
            rec(ok and "returned" or "raised, holding: "
                .. tostring(holds(c.lock)))
          end)
        end)
        -- queue a plain acquirer too: the waiter goes back behind it
        g:spawn(function()
          loom.sleep(0.005)
          c:with(function() rec("acquirer") end)
        end)
        settle()
        c:acquire()
        c:notify()            -- t now waits for the lock
        loom.sleep(0.01)
        t:cancel()            -- aborted in the lock's queue
        loom.sleep(0.01)
        rec("releasing")
        c:release()
      end)
      assert.same({"releasing", "acquirer", "raised, holding: true"},
                  rec.list)
      assert.is_false(c.lock:locked())
    end))

  it("notified and cancelled at the moment it gets the lock, returns "
     .. "holding it; Cancelled comes at the next checkpoint", T(function()
      local c, rec = loom.condition(), S.recorder()
      local sc
      loom.with_group(function(g)
        g:spawn(function()
          c:acquire()
          loom.scope(function(s)
            sc = s
            c:wait()
            rec("returned, holding: " .. tostring(holds(c.lock)))
            loom.sleep(0)
            rec("not reached")
          end)
          rec("cancel caught")
          c:release()
        end)
        settle()
        c:acquire()
        c:notify()
        c:release()           -- hands the lock to the waiter...
        sc:cancel()           -- ...cancelled before it runs
      end)
      assert.same({"returned, holding: true", "cancel caught"}, rec.list)
      assert.is_false(c.lock:locked())
    end))

  it("with an expired deadline raises without releasing the lock",
    T(function()
      local c, rec = loom.condition(), S.recorder()
      loom.with_group(function(g)
        c:acquire()
        g:spawn(function() c:with(function() rec("other") end) end)
        settle()
        local e = S.catch(loom.timeout, 0, function() c:wait() end)
        assert.is_true(loom.TimeoutError:is(e))
        rec("timed out, holding: " .. tostring(holds(c.lock)))
        c:release()
      end)
      assert.same({"timed out, holding: true", "other"}, rec.list)
    end))

  it("under a shield waits for a notify despite the cancellation",
    T(function()
      local c, rec = loom.condition(), S.recorder()
      loom.with_group(function(g)
        g:spawn(function()
          loom.scope(function(s)
            s:cancel()
            loom.shield(function()
              c:with(function() c:wait(); rec("notified") end)
            end)
            loom.sleep(0)
            rec("not reached")
          end)
        end)
        loom.sleep(0.02)
        c:with(function() c:notify() end)
      end)
      assert.same({"notified"}, rec.list)
    end))

  it("inside with(), a cancelled wait leaves the lock free afterwards",
    T(function()
      local c = loom.condition()
      loom.with_group(function(g)
        for _ = 1, 3 do
          g:spawn(function() c:with(function() c:wait() end) end)
        end
        settle()
        g:cancel()
      end)
      assert.is_false(c.lock:locked())
      assert.matches("0 waiting", tostring(c))
    end))

  it("a timeout around a wait raises TimeoutError with the lock re-held "
     .. "and released by with", T(function()
      local c = loom.condition()
      local t0 = loom.now()
      local e = S.catch(loom.timeout, 0.03, function()
        c:with(function() c:wait() end)
      end)
      assert.is_true(loom.TimeoutError:is(e))
      assert.is_true(loom.now() - t0 >= 0.03 - 1e-6)
      assert.is_false(c.lock:locked())
    end))
end)

describe("Condition and loom.run's deadlock detection", function()
  it("a wait nobody notifies ends in a deadlock error with the lock "
     .. "free and no waiter left", function()
      local c = loom.condition()
      local e = S.catch(loom.run, function()
        c:with(function() c:wait() end)
      end)
      assert.matches("deadlock", tostring(e))
      assert.is_false(c.lock:locked())
      assert.matches("0 waiting", tostring(c))
      require("loom.testing").assert_clean()
    end)
end)
