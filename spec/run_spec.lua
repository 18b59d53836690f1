-- Running (README, "Running"): loom.run, now, sleep, sleep_until,
-- checkpoint, current_task, and the misuse errors of blocking calls.
-- Codes in test names name behaviours of doc/SEMANTICS.md.
local loom = require "loom"
local S = require "spec.support"

local vasync = S.vasync

local run_lua = S.run_lua

-- Assert that `loom.now() - t0` is at least `lo` (exactly) and below
-- `lo + slack` (default 0.25 s).
local took = S.took

describe("loom.run", function()
  it("returns the root function's results, nils included", function()
    local a, b, c, d = loom.run(function(x) return x, nil, 3, nil end, 1)
    assert.same({1, nil, 3, nil}, {a, b, c, d})
    local r = table.pack(loom.run(function() return nil, nil end))
    assert.equal(2, r.n)
    require("loom.testing").assert_clean()
  end)

  it("passes its extra arguments to fn, nils included", function()
    local r = table.pack(loom.run(function(...)
      return select("#", ...), ...
    end, nil, 2, nil))
    assert.same({ n = 4, 3, nil, 2, nil }, r)
  end)

  it("accepts a callable table", function()
    local f = setmetatable({}, { __call = function(_, x) return x * 2 end })
    assert.equal(8, loom.run(f, 4))
  end)

  it("rejects a non-callable, naming the argument", function()
    for _, v in ipairs { 1, "f", {}, true } do
      local e = S.catch(loom.run, v)
      assert.matches("bad argument #1", tostring(e))
    end
    assert.matches("bad argument #1", tostring(S.catch(loom.run)))
  end)

  it("raises the root's error value unchanged", function()
    local err = setmetatable({}, {})
    local e = S.catch(loom.run, function() loom.sleep(0); error(err) end)
    assert.equal(err, e)
    assert.equal("x", S.catch(loom.run, function() error("x", 0) end))
    require("loom.testing").assert_clean()
  end)

  it("raises a root's ErrorGroup unchanged", function()
    local E = {}
    local e = S.catch(loom.run, function()
      loom.with_group(function(g) g:spawn(error, E) end)
    end)
    assert.is_true(loom.ErrorGroup:is(e))
    assert.equal(E, e.errors[1])
  end)

  it("returns only after every task of the run has finished",
    vasync(function()
      local done = {}
      loom.with_group(function(g)
        g:spawn(function()
          loom.with_group(function(g2)
            g2:spawn(function() loom.sleep(0.02); done[#done + 1] = 2 end)
          end)
          done[#done + 1] = 1
        end)
      end)
      assert.same({ 2, 1 }, done)
    end))

  it("refuses to nest", function()
    loom.run(function()
      local e = S.catch(loom.run, function() end)
      assert.matches("already running", tostring(e))
    end)
  end)

  it("refuses to nest from a coroutine created inside a task, and the "
     .. "outer run goes on", function()
    local r = loom.run(function()
      local co = coroutine.wrap(function() return loom.run(function() end) end)
      local e = S.catch(co)
      assert.matches("already running", tostring(e))
      loom.sleep(0)
      return "outer"
    end)
    assert.equal("outer", r)
    require("loom.testing").assert_clean()
  end)

  it("can run again after it returns", function()
    assert.equal(1, loom.run(function() loom.sleep(0); return 1 end))
    assert.equal(2, loom.run(function() loom.sleep(0); return 2 end))
  end)

  it("can run again after a run that failed", function()
    S.catch(loom.run, function()
      loom.with_group(function(g)
        g:spawn(function() loom.sleep(10) end)
        error("fail")
      end)
    end)
    require("loom.testing").assert_clean()
    assert.equal(3, loom.run(function() loom.sleep(0.001); return 3 end))
  end)

  it("ends a root that calls coroutine.yield() directly with an error",
    function()
      local e = S.catch(loom.run, function() coroutine.yield() end)
      assert.matches("coroutine.yield", tostring(e))
      assert.equal(4, loom.run(function() loom.sleep(0); return 4 end))
      require("loom.testing").assert_clean()
    end)
end)

describe("loom.now", function()
  it("works outside a task and returns a float", function()
    local t = loom.now()
    assert.equal("float", math.type(t))
  end)

  it("is monotonic", function()
    local prev = loom.now()
    for _ = 1, 1000 do
      local t = loom.now()
      assert.is_true(t >= prev)
      prev = t
    end
  end)

  it("has at least millisecond resolution", function()
    local t0 = loom.now()
    local t1
    local c0 = os.clock()
    repeat t1 = loom.now() until t1 - t0 >= 0.002 or os.clock() - c0 > 2
    assert.is_true(t1 - t0 >= 0.002)
    assert.is_true(t1 - t0 < 0.1, "loom.now() jumped in coarse steps")
  end)

  it("is the clock of sleep and deadlines", S.async(function()
    local t0 = loom.now()
    loom.sleep(0.02)
    took(t0, 0.02)
    loom.move_on_after(0.01, function(s)
      assert.is_true(math.abs(s.deadline - (loom.now() + 0.01)) < 0.005)
    end)
  end))
end)

describe("loom.sleep", function()
  it("suspends the task for at least the given time (real clock)",
    S.async(function()
      local t0 = loom.now()
      loom.sleep(0.05)
      took(t0, 0.05)
    end))

  it("lets other tasks run meanwhile", vasync(function()
    local log = S.recorder()
    loom.with_group(function(g)
      g:spawn(function() loom.sleep(0.02); log("a") end)
      g:spawn(function() loom.sleep(0.01); log("b") end)
      log("body")
    end)
    assert.same({ "body", "b", "a" }, log.list)
  end))

  it("sleep(0) yields to the other ready tasks", S.async(function()
    local log = S.recorder()
    loom.with_group(function(g)
      g:spawn(function() log("child") end)
      log("before")
      loom.sleep(0)
      log("after")
    end)
    assert.same({ "before", "child", "after" }, log.list)
  end))

  it("a negative time yields like sleep(0)", S.async(function()
    local log = S.recorder()
    loom.with_group(function(g)
      g:spawn(function() log("child") end)
      local t0 = loom.now()
      loom.sleep(-5)
      log("after")
      took(t0, 0)
    end)
    assert.same({ "child", "after" }, log.list)
  end))

  it("rejects a non-number and NaN, naming the argument", S.async(function()
    for _, v in ipairs { "1", {}, true } do
      local e = S.catch(function() loom.sleep(v) end)
      assert.matches("bad argument #1 to 'sleep' %(number expected",
                     tostring(e))
    end
    assert.matches("bad argument #1 to 'sleep'",
                   tostring(S.catch(function() loom.sleep() end)))
    assert.matches("bad argument #1 to 'sleep'",
                   tostring(S.catch(function() loom.sleep(0 / 0) end)))
  end))

  it("a huge finite time (beyond 2^64 ms) sleeps until cancelled, and so "
     .. "does a huge timeout (no overflow, no busy loop)", function()
    local status, out = run_lua([[
      local loom = require "loom"
      loom.run(function()
        for _, d in ipairs { 1e17, 1e300 } do
          loom.with_group(function(g)
            local t = g:spawn(loom.sleep, d)
            loom.sleep(0.01)
            t:cancel()
          end)
          loom.move_on_after(0.01, function()
            loom.timeout(d, function() loom.sleep(math.huge) end)
          end)
          loom.move_on_after(0.01, function()
            loom.sleep_until(loom.now() + d)
          end)
        end
      end)
      print("finished")
    ]], 3)
    assert.equal(0, status, out)
    assert.matches("finished", out)
  end)

  it("sleep(math.huge) sleeps until cancelled", vasync(function()
    local t0 = loom.now()
    loom.move_on_after(0.02, function() loom.sleep(math.huge) end)
    took(t0, 0.02)
  end))

  describe("cancellation", function()
    it("is raised while blocked", vasync(function()
      local t0 = loom.now()
      local r = table.pack(loom.scope(function(s)
        loom.with_group(function(g)
          g:spawn(function() loom.sleep(0.01); s:cancel() end)
          loom.sleep(10)
        end)
        return "not reached"
      end))
      assert.equal(0, r.n)
      took(t0, 0.01)
    end))

    it("is raised by sleep(0) and by a sleep that could complete at once",
      S.async(function()
        loom.scope(function(s)
          s:cancel()
          assert.is_true(loom.is_cancelled(S.catch(loom.sleep, 0)))
          assert.is_true(loom.is_cancelled(S.catch(loom.sleep, -1)))
          assert.is_true(loom.is_cancelled(S.catch(loom.sleep, 1)))
        end)
      end))

    it("at the moment the sleep completes, the cancel wins at the next "
       .. "checkpoint", vasync(function()
      -- The canceller's sleep ends first, in the same instant: it cancels
      -- the scope while the sleeper has been woken but has not run yet.
      -- Either the sleep raises, or it returns and the next checkpoint
      -- raises.
      local steps = {}
      local s0
      loom.with_group(function(g)
        g:spawn(function() loom.sleep(0.01); s0:cancel() end)
        g:spawn(function()
          loom.scope(function(s)
            s0 = s
            local ok = pcall(loom.sleep, 0.01)
            steps[#steps + 1] = ok and "returned" or "raised"
            local ok2 = pcall(loom.checkpoint)
            steps[#steps + 1] = ok2 and "checkpoint ok" or "checkpoint raised"
          end)
        end)
      end)
      assert.equal("checkpoint raised", steps[2])
      assert.is_true(s0.cancelled_caught == false)
    end))

    it("with an already expired deadline, raises before sleeping",
      S.async(function()
        local t0 = loom.now()
        local e = S.catch(loom.timeout, 0, function() loom.sleep(10) end)
        assert.is_true(loom.TimeoutError:is(e))
        took(t0, 0, 0.1)
      end))

    it("is not raised under a shield", vasync(function()
      local t0 = loom.now()
      loom.scope(function(s)
        s:cancel()
        loom.shield(function()
          loom.sleep(0.01)
          loom.sleep(0)
        end)
        took(t0, 0.01)
      end)
    end))
  end)
end)

describe("loom.sleep_until", function()
  it("returns once loom.now() >= when (real clock)", S.async(function()
    local when = loom.now() + 0.03
    loom.sleep_until(when)
    assert.is_true(loom.now() >= when)
    assert.is_true(loom.now() < when + 0.25)
  end))

  it("a time in the past yields to the other ready tasks", S.async(function()
    local log = S.recorder()
    loom.with_group(function(g)
      g:spawn(function() log("child") end)
      loom.sleep_until(loom.now() - 1)
      log("after")
    end)
    assert.same({ "child", "after" }, log.list)
  end))

  it("rejects a non-number and NaN, naming the argument", S.async(function()
    for _, v in ipairs { "1", {}, false } do
      assert.matches("bad argument #1 to 'sleep_until' %(number expected",
                     tostring(S.catch(function() loom.sleep_until(v) end)))
    end
    assert.matches("bad argument #1 to 'sleep_until'",
                   tostring(S.catch(function() loom.sleep_until() end)))
    assert.matches("bad argument #1 to 'sleep_until'",
                   tostring(S.catch(function() loom.sleep_until(0 / 0) end)))
  end))

  it("math.huge sleeps until cancelled", vasync(function()
    local t0 = loom.now()
    loom.move_on_after(0.01, function() loom.sleep_until(math.huge) end)
    took(t0, 0.01)
  end))

  describe("cancellation", function()
    it("is raised while blocked", vasync(function()
      local t0 = loom.now()
      loom.with_group(function(g)
        local t = g:spawn(loom.sleep_until, loom.now() + 10)
        loom.sleep(0.01)
        t:cancel()
      end)
      took(t0, 0.01)
    end))

    it("is raised for a time already passed", S.async(function()
      loom.scope(function(s)
        s:cancel()
        assert.is_true(loom.is_cancelled(S.catch(loom.sleep_until, 0)))
      end)
    end))

    it("at the moment it completes, the cancel wins at the next checkpoint",
      vasync(function()
        local after, t
        loom.with_group(function(g)
          local when = loom.now() + 0.01
          g:spawn(function() loom.sleep_until(when); t:cancel() end)
          t = g:spawn(function()
            pcall(loom.sleep_until, when)
            after = S.catch(loom.checkpoint)
          end)
        end)
        assert.is_true(loom.is_cancelled(after))
      end))

    it("with an already expired deadline", S.async(function()
      local e = S.catch(loom.timeout, -1, function()
        loom.sleep_until(loom.now() + 10)
      end)
      assert.is_true(loom.TimeoutError:is(e))
    end))

    it("is not raised under a shield", vasync(function()
      loom.scope(function(s)
        s:cancel()
        loom.shield(function()
          local when = loom.now() + 0.01
          loom.sleep_until(when)
          assert.is_true(loom.now() >= when)
        end)
      end)
    end))
  end)
end)

describe("loom.checkpoint", function()
  it("yields to the other ready tasks, round-robin (LC-07)",
    S.async(function()
      local log = S.recorder()
      loom.with_group(function(g)
        for _, name in ipairs { "a", "b" } do
          g:spawn(function()
            for i = 1, 3 do log(name .. i); loom.checkpoint() end
          end)
        end
      end)
      assert.same({ "a1", "b1", "a2", "b2", "a3", "b3" }, log.list)
    end))

  it("raises Cancelled in a cancelled scope, at every call (level-"
     .. "triggered)", S.async(function()
    loom.scope(function(s)
      s:cancel()
      for _ = 1, 3 do
        assert.is_true(loom.is_cancelled(S.catch(loom.checkpoint)))
      end
    end)
  end))

  it("does not raise under a shield", S.async(function()
    loom.scope(function(s)
      s:cancel()
      loom.shield(function() loom.checkpoint() end)
    end)
  end))

  it("raises with an already expired deadline", S.async(function()
    local e = S.catch(loom.timeout, 0, loom.checkpoint)
    assert.is_true(loom.TimeoutError:is(e))
    assert.is_nil(loom.move_on_after(-1, function()
      loom.checkpoint()
      return "not reached"
    end))
  end))

  it("notices a deadline that passed while the task ran without yielding "
     .. "(BL-08)", S.async(function()
    local e = S.catch(loom.timeout, 0.01, function()
      local t0 = loom.now()
      repeat until loom.now() - t0 > 0.02   -- no checkpoint
      loom.checkpoint()
    end)
    assert.is_true(loom.TimeoutError:is(e))
  end))

  it("raises a cancel that arrives while the task waits for its turn "
     .. "(as Trio and asyncio do)", S.async(function()
    -- The task has passed the entry test and is queued behind `other`,
    -- which cancels it: the checkpoint must not return normally.
    local got = {}
    loom.with_group(function(g)
      local t
      g:spawn(function() loom.sleep(0); t:cancel() end)
      t = g:spawn(function()
        for _, f in ipairs { loom.checkpoint, function() loom.sleep(0) end } do
          local ok, e = pcall(f)
          got[#got + 1] = ok and "returned" or tostring(e)
        end
      end)
    end)
    assert.matches("Cancelled", got[1])
    assert.matches("Cancelled", got[2])
  end))

  it("takes no argument and returns nothing", S.async(function()
    assert.equal(0, select("#", loom.checkpoint()))
  end))
end)

describe("loom.current_task", function()
  it("is nil outside any task", function()
    assert.is_nil(loom.current_task())
  end)

  it("is the running Task: the root, then each child", S.async(function()
    local root = loom.current_task()
    assert.equal("userdata", type(root))
    assert.is_false(root:done())
    local seen = {}
    loom.with_group(function(g)
      local t1 = g:spawn(function() seen[1] = loom.current_task() end)
      local t2 = g:spawn(function() seen[2] = loom.current_task() end)
      loom.sleep(0)
      assert.equal(t1, seen[1])
      assert.equal(t2, seen[2])
    end)
    assert.equal(root, loom.current_task())
  end))

  it("is nil again after loom.run returns", function()
    loom.run(function() loom.sleep(0) end)
    assert.is_nil(loom.current_task())
  end)
end)

describe("blocking calls outside a task", function()
  it("raise 'outside of a loom task'", function()
    for _, f in ipairs { function() loom.sleep(0) end, loom.checkpoint,
                         function() loom.sleep_until(0) end } do
      assert.matches("outside of a loom task", tostring(S.catch(f)))
    end
  end)

  it("raise it also when they would not have had to wait (join, wait of a "
     .. "finished task)", function()
    local t = loom.run(function() return loom.current_task() end)
    assert.is_true(t:done())
    assert.matches("outside of a loom task", tostring(S.catch(t.join, t)))
    assert.matches("outside of a loom task", tostring(S.catch(t.wait, t)))
    assert.matches("outside of a loom task",
                   tostring(S.catch(loom.sleep, -1)))
  end)

  it("raise 'nested coroutine' from a user coroutine inside a task",
    S.async(function()
      local co = coroutine.wrap(function() loom.sleep(0) end)
      assert.matches("nested coroutine", tostring(S.catch(co)))
    end))

  it("every blocking core call raises 'nested coroutine' there, and the "
     .. "task goes on", S.async(function()
    loom.with_group({ limit = 1 }, function(g)
      local t = g:spawn(function() end)
      loom.sleep(0)
      local calls = {
        sleep = function() loom.sleep(1) end,
        sleep0 = function() loom.sleep(0) end,
        sleep_until = function() loom.sleep_until(0) end,
        checkpoint = function() loom.checkpoint() end,
        join = function() t:join() end,
        wait = function() t:wait() end,
        start = function() g:start(function(started) started() end) end,
      }
      for name, f in pairs(calls) do
        local ok, e = coroutine.resume(coroutine.create(f))
        assert.is_false(ok, name)
        assert.matches("nested coroutine", tostring(e), 1, true)
      end
      g:spawn(loom.sleep, 0.01)   -- the group is full now
      local ok, e = coroutine.resume(coroutine.create(function()
        g:spawn(function() end)
      end))
      assert.is_false(ok)
      assert.matches("nested coroutine", tostring(e))
      loom.sleep(0)
    end)
  end))

  it("a user coroutine inside a task may still yield to its own resumer",
    S.async(function()
      local gen = coroutine.wrap(function()
        for i = 1, 3 do coroutine.yield(i) end
      end)
      assert.same({ 1, 2, 3 }, { gen(), gen(), gen() })
      loom.sleep(0)
    end))
end)

describe("coroutine.yield() called directly in a task", function()
  it("ends that task with an error that its group reports", S.async(function()
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(function() coroutine.yield("x") end)
    end)
    assert.is_false(ok)
    assert.is_true(loom.ErrorGroup:is(eg))
    assert.matches("coroutine.yield", tostring(eg.errors[1]))
  end))

  it("leaves the scheduler working: siblings and later tasks run",
    vasync(function()
      local log = S.recorder()
      pcall(loom.with_group, function(g)
        g:spawn(function() coroutine.yield() end)
        g:spawn(function()
          local ok = pcall(loom.sleep, 1)
          log(ok and "sibling slept" or "sibling cancelled")
        end)
      end)
      loom.with_group(function(g)
        g:spawn(function() loom.sleep(0.01); log("later") end)
      end)
      loom.sleep(0.001)
      assert.same({ "sibling cancelled", "later" }, log.list)
    end))

  it("a task yielding inside a pcall is ended too", S.async(function()
    local after = false
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(function()
        pcall(coroutine.yield)
        after = true
      end)
    end)
    assert.is_false(ok)
    assert.matches("coroutine.yield", tostring(eg.errors[1]))
    assert.is_false(after)
  end))

  it("runs the task's <close> handlers; one that tries to wait gets a clear "
     .. "error", S.async(function()
    local closed, wait_err = false, nil
    pcall(loom.with_group, function(g)
      g:spawn(function()
        local _ <close> = setmetatable({}, { __close = function()
          closed = true
          local ok, e = pcall(loom.sleep, 0)
          wait_err = not ok and e or "no error"
        end })
        coroutine.yield()
      end)
    end)
    assert.is_true(closed)
    assert.is_string(wait_err)
    assert.matches("cannot wait", wait_err)
    loom.sleep(0)
  end))
end)
