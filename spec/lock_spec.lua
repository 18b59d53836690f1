-- loom.lock (README, "Synchronisation"). Codes in test names, such as
-- (BL-03), name behaviours of doc/SEMANTICS.md.
local loom = require "loom"
local S = require "spec.support"

-- Tests run on the virtual clock (sleeps take no real time); their
-- timing assertions also hold on the real clock (T = S.async).
local T = S.vasync

local settle = S.settle

local holds = S.holds

describe("loom.lock", function()
  it("makes a free lock", function()
    local lk = loom.lock()
    assert.is_false(lk:locked())
    assert.matches("loom.Lock %(free%)", tostring(lk))
  end)

  it("methods reject a receiver that is not a Lock", function()
    local lk = loom.lock()
    assert.matches("loom.Lock expected", tostring(S.catch(lk.locked, {})))
    assert.matches("loom.Lock expected",
                   tostring(S.catch(lk.release, loom.event())))
  end)
end)

describe("Lock:acquire and Lock:release", function()
  it("take and give back the lock", T(function()
    local lk = loom.lock()
    lk:acquire()
    assert.is_true(lk:locked())
    assert.matches("held by task%-", tostring(lk))
    lk:release()
    assert.is_false(lk:locked())
  end))

  it("exclude other tasks until released", T(function()
    local lk, rec = loom.lock(), S.recorder()
    loom.with_group(function(g)
      lk:acquire()
      g:spawn(function() lk:acquire(); rec("b got it"); lk:release() end)
      loom.sleep(0.02)
      rec("a releases")
      lk:release()
    end)
    assert.same({"a releases", "b got it"}, rec.list)
  end))

  it("hand the lock to waiters in FIFO order, with no barging",
    T(function()
      local lk, rec = loom.lock(), S.recorder()
      loom.with_group(function(g)
        lk:acquire()
        for i = 1, 5 do
          g:spawn(function()
            lk:acquire(); rec(i); loom.sleep(0); lk:release()
          end)
          loom.sleep(0)
        end
        lk:release()
        -- The lock went to waiter 1 at once: a newcomer must queue.
        assert.is_true(lk:locked())
        g:spawn(function() lk:acquire(); rec("late"); lk:release() end)
      end)
      assert.same({1, 2, 3, 4, 5, "late"}, rec.list)
    end))

  it("acquire is a checkpoint even when the lock is free", T(function()
    local lk = loom.lock()
    local e = S.catch(loom.timeout, 0, function() lk:acquire() end)
    assert.is_true(loom.TimeoutError:is(e))
    assert.is_false(lk:locked())
  end))

  it("acquire raises 'outside of a loom task' outside tasks", function()
    local lk = loom.lock()
    assert.matches("outside of a loom task", tostring(S.catch(lk.acquire,
                                                               lk)))
    assert.is_false(lk:locked())
  end)

  it("acquire raises 'nested coroutine' in a user coroutine", T(function()
    local lk = loom.lock()
    local co = coroutine.wrap(function() lk:acquire() end)
    assert.matches("nested coroutine", tostring(S.catch(co)))
    assert.is_false(lk:locked())
  end))

  it("acquiring a lock the task already holds raises (not reentrant)",
    T(function()
      local lk = loom.lock()
      lk:acquire()
      assert.matches("already held", tostring(S.catch(lk.acquire, lk)))
      lk:release()
    end))

  it("release by a task that does not hold the lock raises", T(function()
    local lk = loom.lock()
    loom.with_group(function(g)
      lk:acquire()
      local t = g:spawn(function()
        return S.catch(lk.release, lk)
      end)
      assert.matches("held by another task", tostring(t:join()))
      assert.is_true(lk:locked())
      lk:release()
    end)
  end))

  it("release of a free lock raises", T(function()
    local lk = loom.lock()
    assert.matches("not held", tostring(S.catch(lk.release, lk)))
  end))

  it("release outside any task raises", function()
    local lk = loom.lock()
    assert.matches("not held", tostring(S.catch(lk.release, lk)))
  end)

  it("a waiter cancelled while blocked leaves the queue; the others get "
     .. "the lock in order (BL-03)", T(function()
      local lk, rec = loom.lock(), S.recorder()
      loom.with_group(function(g)
        lk:acquire()
        local ts = {}
        for i = 1, 3 do
          ts[i] = g:spawn(function()
            local ok, e = pcall(lk.acquire, lk)
            if not ok then
              rec(i .. " cancelled")
              error(e, 0)
            end
            rec(i)
            lk:release()
          end)
          loom.sleep(0)
        end
        ts[2]:cancel()
        settle()
        assert.matches("2 waiting", tostring(lk))
        lk:release()
      end)
      assert.same({"2 cancelled", 1, 3}, rec.list)
      assert.is_false(lk:locked())
    end))

  it("after a group cancel the lock is free with no owner and no waiters "
     .. "(BL-03)", T(function()
      local lk = loom.lock()
      loom.with_group(function(g)
        for _ = 1, 4 do
          g:spawn(function()
            lk:with(function() loom.sleep(10) end)
          end)
        end
        settle()
        g:cancel()
      end)
      assert.is_false(lk:locked())
      assert.matches("free", tostring(lk))
      lk = lk  -- usable again:
      loom.with_group(function(g)
        g:spawn(function() lk:acquire(); lk:release() end)
      end)
      assert.is_false(lk:locked())
    end))

  it("a waiter handed the lock but cancelled before it runs passes it on "
     .. "to the next waiter", T(function()
      local lk, rec = loom.lock(), S.recorder()
      local sc
      loom.with_group(function(g)
        lk:acquire()
        g:spawn(function()
          loom.scope(function(s)
            sc = s
            lk:acquire()
            rec("b acquired")
          end)
          rec("b out")
        end)
        loom.sleep(0)
        g:spawn(function() lk:acquire(); rec("c acquired"); lk:release() end)
        settle()
        lk:release()            -- hands the lock to b...
        sc:cancel()             -- ...cancelled before it runs
      end)
      assert.same({"b out", "c acquired"}, rec.list)
      assert.is_false(lk:locked())
    end))

  it("a waiter handed the lock but cancelled before it runs frees it when "
     .. "nobody else waits", T(function()
      local lk = loom.lock()
      local t
      loom.with_group(function(g)
        lk:acquire()
        t = g:spawn(function() lk:acquire() end)
        settle()
        lk:release()
        assert.is_true(lk:locked())   -- handed to t
        t:cancel()
      end)
      assert.is_true(t:cancelled())
      assert.is_false(lk:locked())
    end))

  it("with an expired deadline does not take the lock", T(function()
    local lk = loom.lock()
    loom.with_group(function(g)
      lk:acquire()
      g:spawn(function()
        local e = S.catch(loom.timeout, 0, function() lk:acquire() end)
        assert.is_true(loom.TimeoutError:is(e))
      end)
      settle()
      assert.matches("0 waiting", tostring(lk))
      lk:release()
    end)
    assert.is_false(lk:locked())
  end))

  it("under a shield waits for the lock despite the cancellation",
    T(function()
      local lk, rec = loom.lock(), S.recorder()
      loom.with_group(function(g)
        lk:acquire()
        g:spawn(function()
          loom.scope(function(s)
            s:cancel()
            loom.shield(function()
              lk:acquire()
              rec("acquired")
              lk:release()
            end)
            loom.sleep(0)
            rec("not reached")
          end)
          rec("cancel caught")
        end)
        loom.sleep(0.02)
        lk:release()
      end)
      assert.same({"acquired", "cancel caught"}, rec.list)
    end))

  it("a timeout around a blocked acquire leaves no phantom owner",
    T(function()
      local lk = loom.lock()
      loom.with_group(function(g)
        lk:acquire()
        g:spawn(function()
          assert.is_nil(loom.move_on_after(0.02, function()
            lk:acquire()
            return "acquired"
          end))
        end)
        loom.sleep(0.05)
        lk:release()
        assert.is_false(lk:locked())
      end)
    end))
end)

describe("Lock and loom.run's deadlock detection", function()
  it("two tasks waiting for each other's locks end in a deadlock error, "
     .. "with both locks free", function()
      local a, b = loom.lock(), loom.lock()
      local e = S.catch(loom.run, function()
        loom.with_group(function(g)
          g:spawn(function()
            a:with(function() loom.sleep(0.01); b:with(function() end) end)
          end)
          g:spawn(function()
            b:with(function() loom.sleep(0.01); a:with(function() end) end)
          end)
        end)
      end)
      assert.matches("deadlock", tostring(e))
      assert.is_false(a:locked())
      assert.is_false(b:locked())
      require("loom.testing").assert_clean()
    end)
end)

describe("Lock:with", function()
  it("returns fn's results, nils included, and releases", T(function()
    local lk = loom.lock()
    local r = table.pack(lk:with(function(a, b)
      assert.is_true(lk:locked())
      return a, nil, b, nil
    end, 1, 2))
    assert.same({n = 4, 1, nil, 2, nil}, r)
    assert.is_false(lk:locked())
  end))

  it("releases when fn raises, and the error keeps its identity",
    T(function()
      local lk = loom.lock()
      local err = setmetatable({}, {})
      local e = S.catch(lk.with, lk, function() error(err) end)
      assert.equal(err, e)
      assert.is_false(lk:locked())
    end))

  it("keeps the traceback of the original raise", T(function()
    local lk = loom.lock()
    local function inner_boom() error("boom") end
    local e = S.catch(loom.with_group, function(g)
      g:spawn(function() lk:with(function() inner_boom() end) end)
    end)
    assert.is_true(loom.ErrorGroup:is(e))
    assert.matches("boom", e.errors[1])
    assert.matches("inner_boom", e.tracebacks[1])
    assert.is_false(lk:locked())
  end))

  it("releases when fn is cancelled", T(function()
    local lk, rec = loom.lock(), S.recorder()
    loom.with_group(function(g)
      local t = g:spawn(function()
        lk:with(function() loom.sleep(10) end)
      end)
      g:spawn(function() lk:acquire(); rec("next got it"); lk:release() end)
      settle()
      t:cancel()
    end)
    assert.same({"next got it"}, rec.list)
    assert.is_false(lk:locked())
  end))

  it("waits for the lock (FIFO) and is cancelled while blocked without "
     .. "running fn", T(function()
      local lk, ran = loom.lock(), false
      loom.with_group(function(g)
        lk:acquire()
        local t = g:spawn(function() lk:with(function() ran = true end) end)
        settle()
        t:cancel()
        settle()
        lk:release()
      end)
      assert.is_false(ran)
      assert.is_false(lk:locked())
    end))

  it("with an expired deadline does not run fn", T(function()
    local lk, ran = loom.lock(), false
    local e = S.catch(loom.timeout, 0, function()
      lk:with(function() ran = true end)
    end)
    assert.is_true(loom.TimeoutError:is(e))
    assert.is_false(ran)
    assert.is_false(lk:locked())
  end))

  it("under a shield runs fn despite the cancellation", T(function()
    local lk, ran = loom.lock(), false
    loom.scope(function(s)
      s:cancel()
      loom.shield(function() lk:with(function() ran = true end) end)
    end)
    assert.is_true(ran)
    assert.is_false(lk:locked())
  end))

  it("checks fn before taking the lock", T(function()
    local lk = loom.lock()
    assert.matches("function expected", tostring(S.catch(lk.with, lk, 42)))
    assert.is_false(lk:locked())
  end))

  it("raises if fn released the lock and another task took it",
    T(function()
      local lk = loom.lock()
      loom.with_group(function(g)
        local e = S.catch(lk.with, lk, function()
          lk:release()
          g:spawn(function() lk:acquire(); loom.sleep(0.01); lk:release() end)
          loom.sleep(0)
        end)
        assert.matches("held by another task", tostring(e))
      end)
    end))

  it("the holder is the task that called with", T(function()
    local lk = loom.lock()
    lk:with(function() assert.is_true(holds(lk)) end)
  end))
end)
