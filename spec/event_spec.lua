local loom = require "loom"
local S = require "spec.support"

-- Tests run on the virtual clock (sleeps take no real time); their
-- timing assertions also hold on the real clock (T = S.async).
local T = S.vasync

local settle = S.settle

describe("loom.event", function()
  it("makes an event that is not set", function()
    local ev = loom.event()
    assert.is_false(ev:is_set())
    assert.matches("loom.Event", tostring(ev))
  end)

  it("set, clear and is_set work outside tasks", function()
    local ev = loom.event()
    ev:set()
    assert.is_true(ev:is_set())
    ev:set()
    assert.is_true(ev:is_set())
    ev:clear()
    assert.is_false(ev:is_set())
  end)

  it("methods reject a receiver that is not an Event", function()
    local ev = loom.event()
    assert.matches("loom.Event expected", tostring(S.catch(ev.set, {})))
    assert.matches("loom.Event expected",
                   tostring(S.catch(ev.is_set, loom.lock())))
  end)
end)

describe("Event:wait", function()
  it("returns at once when the event is set", T(function()
    local ev = loom.event()
    ev:set()
    local rec = S.recorder()
    loom.with_group(function(g)
      g:spawn(rec, "other task ran")
      ev:wait()
      rec("wait returned")
    end)
    assert.same({"wait returned", "other task ran"}, rec.list)
  end))

  it("waits until set and wakes every waiter in FIFO order",
    T(function()
      local ev, rec = loom.event(), S.recorder()
      loom.with_group(function(g)
        for i = 1, 4 do
          g:spawn(function() ev:wait(); rec(i) end)
        end
        loom.sleep(0.02)
        assert.same({}, rec.list)
        rec("set")
        ev:set()
      end)
      assert.same({"set", 1, 2, 3, 4}, rec.list)
    end))

  it("a waiter woken by set returns even if the event is cleared before "
     .. "it runs", T(function()
      local ev, done = loom.event(), false
      loom.with_group(function(g)
        g:spawn(function() ev:wait(); done = true end)
        settle()
        ev:set()
        ev:clear()
      end)
      assert.is_true(done)
      assert.is_false(ev:is_set())
    end))

  it("waits again after clear", T(function()
    local ev = loom.event()
    ev:set()
    ev:clear()
    local t0 = loom.now()
    loom.with_group(function(g)
      g:spawn(function() loom.sleep(0.02); ev:set() end)
      ev:wait()
    end)
    local dt = loom.now() - t0
    assert.is_true(dt >= 0.02 - 1e-6 and dt < 0.5, "waited " .. dt)
  end))

  it("raises 'outside of a loom task' outside tasks, even when set",
    function()
      local ev = loom.event()
      ev:set()
      assert.matches("outside of a loom task",
                     tostring(S.catch(ev.wait, ev)))
    end)

  it("raises 'nested coroutine' from a user coroutine", S.async(function()
    local ev = loom.event()
    ev:set()
    local co = coroutine.wrap(function() ev:wait() end)
    assert.matches("nested coroutine", tostring(S.catch(co)))
  end))

  it("is cancelled while blocked, and leaves no waiter behind",
    T(function()
      local ev = loom.event()
      local e
      loom.with_group(function(g)
        local t = g:spawn(function()
          local ok, err = pcall(ev.wait, ev)
          assert.is_false(ok)
          e = err
        end)
        settle()
        assert.matches("1 waiting", tostring(ev))
        t:cancel()
      end)
      assert.is_true(loom.is_cancelled(e))
      assert.matches("0 waiting", tostring(ev))
    end))

  it("cancelled at the moment it is set, returns and meets Cancelled at "
     .. "the next checkpoint", T(function()
      local ev, rec = loom.event(), S.recorder()
      local sc
      loom.with_group(function(g)
        g:spawn(function()
          loom.scope(function(s)
            sc = s
            ev:wait()
            rec("returned")
            loom.sleep(0)
            rec("not reached")
          end)
          rec("scope caught")
        end)
        settle()
        ev:set()
        sc:cancel()
      end)
      assert.same({"returned", "scope caught"}, rec.list)
    end))

  it("with an expired deadline raises even when the event is set",
    T(function()
      local ev = loom.event()
      ev:set()
      local e = S.catch(loom.timeout, 0, function() ev:wait() end)
      assert.is_true(loom.TimeoutError:is(e))
    end))

  it("under a shield is not cancelled", T(function()
    local ev, rec = loom.event(), S.recorder()
    loom.with_group(function(g)
      g:spawn(function()
        loom.scope(function(s)
          s:cancel()
          loom.shield(function() ev:wait(); rec("waited") end)
          rec("after shield")
          loom.sleep(0)
          rec("not reached")
        end)
      end)
      loom.sleep(0.02)
      ev:set()
    end)
    assert.same({"waited", "after shield"}, rec.list)
  end))

  it("a timeout wakes a blocked waiter", T(function()
    local ev = loom.event()
    local t0 = loom.now()
    local e = S.catch(loom.timeout, 0.03, function() ev:wait() end)
    assert.is_true(loom.TimeoutError:is(e))
    local dt = loom.now() - t0
    assert.is_true(dt >= 0.03 - 1e-6 and dt < 0.5, "waited " .. dt)
  end))
end)
