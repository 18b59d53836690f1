local loom = require "loom"
local S = require "spec.support"

-- Tests run on the virtual clock (sleeps take no real time); their
-- timing assertions also hold on the real clock (T = S.async).
local T = S.vasync

local settle = S.settle

describe("loom.semaphore", function()
  it("makes a semaphore whose field 'value' is its initial value",
    function()
      assert.equal(3, loom.semaphore(3).value)
      assert.equal(0, loom.semaphore(0).value)
      assert.equal(2, loom.semaphore(2.0).value)
      assert.matches("loom.Semaphore %(value 3", tostring(loom.semaphore(3)))
    end)

  it("rejects a missing, negative, fractional or non-number value",
    function()
      assert.matches("number expected", tostring(S.catch(loom.semaphore)))
      assert.matches(">= 0", tostring(S.catch(loom.semaphore, -1)))
      assert.matches("integer", tostring(S.catch(loom.semaphore, 1.5)))
      assert.matches("number expected",
                     tostring(S.catch(loom.semaphore, "x")))
      assert.matches("max", tostring(S.catch(loom.semaphore, 3, 2)))
    end)

  it("methods reject a receiver that is not a Semaphore", function()
    local s = loom.semaphore(1)
    assert.matches("loom.Semaphore expected",
                   tostring(S.catch(s.release, loom.lock())))
  end)
end)

describe("Semaphore:acquire and Semaphore:release", function()
  it("count permits down and up", T(function()
    local s = loom.semaphore(2)
    s:acquire()
    assert.equal(1, s.value)
    s:acquire()
    assert.equal(0, s.value)
    s:release()
    s:release()
    assert.equal(2, s.value)
  end))

  it("release may exceed the initial value unless a max is given",
    function()
      local s = loom.semaphore(1)
      s:release()
      assert.equal(2, s.value)
      local b = loom.semaphore(1, 1)
      assert.equal(1, b.max)
      assert.matches("released too many times",
                     tostring(S.catch(b.release, b)))
      assert.equal(1, b.value)
    end)

  it("release works outside tasks", function()
    local s = loom.semaphore(0)
    s:release()
    assert.equal(1, s.value)
  end)

  it("acquire waits while the value is 0, and waiters are served in "
     .. "FIFO order", T(function()
      local s, rec = loom.semaphore(0), S.recorder()
      loom.with_group(function(g)
        for i = 1, 4 do
          g:spawn(function() s:acquire(); rec(i) end)
          loom.sleep(0)
        end
        assert.matches("4 waiting", tostring(s))
        s:release()
        -- The permit went to waiter 1: the value stays 0 (no barging).
        assert.equal(0, s.value)
        s:release()
        loom.sleep(0.01)
        assert.same({1, 2}, rec.list)
        s:release()
        s:release()
      end)
      assert.same({1, 2, 3, 4}, rec.list)
      assert.equal(0, s.value)
    end))

  it("never lets more than n tasks in at once", T(function()
    local s, inside, peak = loom.semaphore(3), 0, 0
    loom.with_group(function(g)
      for i = 1, 12 do
        g:spawn(function()
          s:acquire()
          inside = inside + 1
          peak = math.max(peak, inside)
          loom.sleep(0.001 * (i % 4))
          inside = inside - 1
          s:release()
        end)
      end
    end)
    assert.equal(3, peak)
    assert.equal(3, s.value)
  end))

  it("acquire is a checkpoint even when a permit is free", T(function()
    local s = loom.semaphore(1)
    local e = S.catch(loom.timeout, 0, function() s:acquire() end)
    assert.is_true(loom.TimeoutError:is(e))
    assert.equal(1, s.value)
  end))

  it("acquire raises 'outside of a loom task' outside tasks", function()
    local s = loom.semaphore(1)
    assert.matches("outside of a loom task",
                   tostring(S.catch(s.acquire, s)))
    assert.equal(1, s.value)
  end)

  it("a waiter cancelled while blocked takes no permit and leaves the "
     .. "queue", T(function()
      local s, rec = loom.semaphore(0), S.recorder()
      loom.with_group(function(g)
        local ts = {}
        for i = 1, 3 do
          ts[i] = g:spawn(function() s:acquire(); rec(i) end)
          loom.sleep(0)
        end
        ts[1]:cancel()
        settle()
        s:release()
        s:release()
      end)
      assert.same({2, 3}, rec.list)
      assert.equal(0, s.value)
    end))

  it("a waiter handed a permit but cancelled before it runs gives it to "
     .. "the next waiter", T(function()
      local s, rec = loom.semaphore(0), S.recorder()
      loom.with_group(function(g)
        local t = g:spawn(function() s:acquire(); rec("first") end)
        loom.sleep(0)
        g:spawn(function() s:acquire(); rec("second") end)
        settle()
        s:release()     -- handed to the first waiter...
        t:cancel()      -- ...cancelled before it runs
      end)
      assert.same({"second"}, rec.list)
      assert.equal(0, s.value)
    end))

  it("a waiter handed a permit but cancelled before it runs gives it "
     .. "back to the count when nobody else waits", T(function()
      local s = loom.semaphore(0)
      loom.with_group(function(g)
        local t = g:spawn(function() s:acquire() end)
        settle()
        s:release()
        t:cancel()
      end)
      assert.equal(1, s.value)
    end))

  it("with an expired deadline waits for nothing", T(function()
    local s = loom.semaphore(0)
    local e = S.catch(loom.timeout, 0, function() s:acquire() end)
    assert.is_true(loom.TimeoutError:is(e))
    assert.matches("0 waiting", tostring(s))
    s:release()
    assert.equal(1, s.value)
  end))

  it("under a shield waits despite the cancellation", T(function()
    local s, rec = loom.semaphore(0), S.recorder()
    loom.with_group(function(g)
      g:spawn(function()
        loom.scope(function(sc)
          sc:cancel()
          loom.shield(function() s:acquire(); rec("acquired") end)
          loom.sleep(0)
          rec("not reached")
        end)
      end)
      loom.sleep(0.02)
      s:release()
    end)
    assert.same({"acquired"}, rec.list)
    assert.equal(0, s.value)
  end))
end)

describe("Semaphore:with", function()
  it("returns fn's results and gives the permit back", T(function()
    local s = loom.semaphore(1)
    local r = table.pack(s:with(function(a)
      assert.equal(0, s.value)
      return a, nil
    end, "x"))
    assert.same({n = 2, "x", nil}, r)
    assert.equal(1, s.value)
  end))

  it("gives the permit back when fn raises (error identity kept)",
    T(function()
      local s = loom.semaphore(1)
      local err = {}
      assert.equal(err, S.catch(s.with, s, function() error(err) end))
      assert.equal(1, s.value)
    end))

  it("gives the permit back when fn is cancelled", T(function()
    local s = loom.semaphore(1)
    loom.with_group(function(g)
      local t = g:spawn(function() s:with(loom.sleep, 10) end)
      settle()
      assert.equal(0, s.value)
      t:cancel()
    end)
    assert.equal(1, s.value)
  end))

  it("is cancelled while waiting without running fn", T(function()
    local s, ran = loom.semaphore(0), false
    loom.with_group(function(g)
      local t = g:spawn(function() s:with(function() ran = true end) end)
      settle()
      t:cancel()
    end)
    assert.is_false(ran)
    assert.equal(0, s.value)
  end))

  it("with an expired deadline does not run fn", T(function()
    local s, ran = loom.semaphore(1), false
    local e = S.catch(loom.timeout, 0, function()
      s:with(function() ran = true end)
    end)
    assert.is_true(loom.TimeoutError:is(e))
    assert.is_false(ran)
    assert.equal(1, s.value)
  end))

  it("under a shield runs fn despite the cancellation", T(function()
    local s, ran = loom.semaphore(1), false
    loom.scope(function(sc)
      sc:cancel()
      loom.shield(function() s:with(function() ran = true end) end)
    end)
    assert.is_true(ran)
    assert.equal(1, s.value)
  end))

  it("checks fn before taking a permit", T(function()
    local s = loom.semaphore(1)
    assert.matches("function expected", tostring(S.catch(s.with, s, nil)))
    assert.equal(1, s.value)
  end))
end)
