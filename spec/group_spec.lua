-- Task groups (README, "Tasks, groups and scopes"): with_group, opts.name
-- and opts.limit, g:spawn, g:start, g:cancel, g.cancel_called, failure and
-- aggregation (doc/SEMANTICS.md sections A-F and J).
local loom = require "loom"
local S = require "spec.support"

local vasync = S.vasync

local run_lua = S.run_lua

local took = S.took

-- A child that sleeps `d` s, recording "<name> cancelled" if cancelled
-- (then re-raising), or "<name> done".
local function sleeper(log, name, d)
  return function()
    local ok, e = pcall(loom.sleep, d)
    if not ok then log(name .. " cancelled"); error(e, 0) end
    log(name .. " done")
    return name
  end
end

describe("loom.with_group", function()
  it("returns the body's results, nils included", S.async(function()
    local r = table.pack(loom.with_group(function() return 1, nil, 3, nil end))
    assert.same({ n = 4, 1, nil, 3, nil }, r)
  end))

  it("passes the group to the body", S.async(function()
    loom.with_group(function(g)
      assert.equal("function", type(g.spawn))
      assert.equal("function", type(g.start))
      assert.equal("function", type(g.cancel))
    end)
  end))

  it("waits for every child; their results stay on their handles (LC-01)",
    vasync(function()
      local t0 = loom.now()
      local a, b
      loom.with_group(function(g)
        a = g:spawn(function() loom.sleep(0.01); return 42 end)
        b = g:spawn(function() loom.sleep(0.02); return 11 end)
      end)
      took(t0, 0.02)
      assert.equal(42, a:result())
      assert.equal(11, b:result())
    end))

  it("finished children do not close the group (LC-02)", vasync(function()
    local a, b
    loom.with_group(function(g)
      a = g:spawn(function() return 1 end)
      loom.sleep(0.01)
      assert.is_true(a:done())
      b = g:spawn(function() loom.sleep(0.01); return 2 end)
    end)
    assert.same({ 1, 2 }, { a:result(), b:result() })
  end))

  it("an empty group returns normally", S.async(function()
    assert.equal("x", loom.with_group(function() return "x" end))
  end))

  it("waiting for the children is not a checkpoint: an empty group in a "
     .. "cancelled scope returns normally (LC-03)", S.async(function()
    local after
    loom.scope(function(s)
      s:cancel()
      after = loom.with_group(function() return "body" end)
      assert.equal("body", after)
      assert.is_false(s.cancelled_caught)
    end)
    assert.equal("body", after)
  end))

  it("code after the group runs only after every child's cleanup (LC-06)",
    vasync(function()
      local log = S.recorder()
      pcall(loom.with_group, function(g)
        g:spawn(function()
          local _ <close> = setmetatable({}, { __close = function()
            loom.shield(function() loom.sleep(0.01) end)
            log("cleanup")
          end })
          loom.sleep(1)
        end)
        g:spawn(function() loom.sleep(0.001); error("fail") end)
      end)
      log("after group")
      assert.same({ "cleanup", "after group" }, log.list)
    end))

  it("rejects a non-callable body and bad opts, naming the argument",
    S.async(function()
      local cases = {
        { 3 }, { nil }, { {}, 3 }, { 3, function() end },
        { { limit = 0 }, function() end }, { { limit = 1.5 }, function() end },
        { { limit = "2" }, function() end }, { { name = 3 }, function() end },
      }
      for i, args in ipairs(cases) do
        local e = S.catch(loom.with_group, table.unpack(args, 1, 2))
        assert.matches("bad argument #%d to 'with_group'", tostring(e), 1,
                       false, "case " .. i)
      end
    end))

  it("accepts a callable table as the body", S.async(function()
    local body = setmetatable({}, { __call = function(_, g)
      return g ~= nil end })
    assert.is_true(loom.with_group(body))
  end))

  it("opts.name shows in the ErrorGroup's message", S.async(function()
    local ok, eg = pcall(loom.with_group, { name = "downloads" }, function(g)
      g:spawn(error, "x")
    end)
    assert.is_false(ok)
    assert.matches("downloads", tostring(eg), 1, true)
  end))

  it("raises 'nested coroutine' from a user coroutine inside a task",
    S.async(function()
      local ok, e = coroutine.resume(coroutine.create(function()
        loom.with_group(function() end)
      end))
      assert.is_false(ok)
      assert.matches("nested coroutine", tostring(e))
    end))
end)

describe("Group methods", function()
  it("reject a non-Group self, naming the argument", S.async(function()
    loom.with_group(function(g)
      for _, name in ipairs { "spawn", "start", "cancel" } do
        for _, bad in ipairs { 3, "x", {} } do
          local e = S.catch(function() return g[name](bad, print) end)
          assert.matches("bad argument #1 to '[^']*' %(loom.Group "
                         .. "expected", tostring(e))
        end
      end
    end)
  end))

  it("finished children leave the group while it is open (LC-05)",
    S.async(function()
      local testing = require "loom.testing"
      local weak = setmetatable({}, { __mode = "v" })
      loom.with_group(function(g)
        for i = 1, 200 do
          weak[i] = g:spawn(function() return {} end)
          if i % 50 == 0 then loom.sleep(0) end
        end
        loom.sleep(0)
        assert.equal(1, testing.stats().tasks)
        collectgarbage()
        collectgarbage()
        assert.is_nil(next(weak))
      end)
    end))
end)

describe("opts.limit", function()
  it("never runs more than n children at once", vasync(function()
    local running, peak, n = 0, 0, 0
    loom.with_group({ limit = 3 }, function(g)
      for i = 1, 10 do
        g:spawn(function()
          running = running + 1
          peak = math.max(peak, running)
          loom.sleep(0.001 * (i % 4 + 1))
          running = running - 1
          n = n + 1
        end)
      end
    end)
    assert.equal(3, peak)
    assert.equal(10, n)
  end))

  it("spawn does not wait, and is no checkpoint, while the group is not "
     .. "full", S.async(function()
    loom.with_group({ limit = 2 }, function(g)
      loom.scope(function(s)
        s:cancel()
        local a = g:spawn(function() end)
        local b = g:spawn(function() end)
        assert.equal("running", a.status)
        assert.equal("running", b.status)
      end)
    end)
  end))

  it("spawn waits while n children are running, until one finishes",
    vasync(function()
      local t0 = loom.now()
      loom.with_group({ limit = 1 }, function(g)
        g:spawn(loom.sleep, 0.01)
        local t = g:spawn(function() end)
        took(t0, 0.01)
        assert.equal("running", t.status)
      end)
    end))

  it("a child counts from its spawn, before it first runs", S.async(function()
    loom.with_group({ limit = 1 }, function(g)
      local a = g:spawn(function() end)
      local b = g:spawn(function() end)
      assert.is_true(a:done())
      assert.is_false(b:done())
    end)
  end))

  it("g:start waits for room too", vasync(function()
    local t0 = loom.now()
    loom.with_group({ limit = 1 }, function(g)
      g:spawn(loom.sleep, 0.01)
      g:start(function(started) started() end)
      took(t0, 0.01)
    end)
  end))

  describe("a spawn waiting for room is cancelled", function()
    it("while blocked, without creating the task", vasync(function()
      local ran = false
      loom.with_group({ limit = 1 }, function(g)
        g:spawn(loom.sleep, 0.02)
        local r = table.pack(loom.move_on_after(0.01, function()
          return g:spawn(function() ran = true end)
        end))
        assert.equal(0, r.n)
      end)
      assert.is_false(ran)
    end))

    it("at the moment room appears: either the task is made, or not, and "
       .. "the next checkpoint raises", vasync(function()
      local made, after
      loom.with_group({ limit = 1 }, function(g)
        local spawner
        g:spawn(function() loom.sleep(0.01) end)
        spawner = loom.current_task()
        loom.with_group(function(g2)
          g2:spawn(function() loom.sleep(0.01); spawner:cancel() end)
          local ok, t = pcall(g.spawn, g, function() end)
          made = ok and t ~= nil
          after = S.catch(loom.checkpoint)
        end)
      end)
      assert.is_boolean(made)
      assert.is_true(loom.is_cancelled(after))
    end))

    it("with an already expired deadline", vasync(function()
      loom.with_group({ limit = 1 }, function(g)
        g:spawn(loom.sleep, 0.01)
        local e = S.catch(loom.timeout, 0, function()
          g:spawn(function() end)
        end)
        assert.is_true(loom.TimeoutError:is(e))
      end)
    end))

    it("not under a shield", vasync(function()
      loom.with_group({ limit = 1 }, function(g)
        g:spawn(loom.sleep, 0.01)
        loom.scope(function(s)
          s:cancel()
          local t = loom.shield(function() return g:spawn(function() end) end)
          assert.is_not_nil(t)
        end)
      end)
    end))
  end)
end)

describe("Group:spawn", function()
  it("returns a Task and passes the arguments, nils included",
    S.async(function()
      loom.with_group(function(g)
        local t = g:spawn(function(...) return select("#", ...), ... end,
                          1, nil, 3)
        assert.equal("userdata", type(t))
        assert.same({ n = 4, 3, 1, nil, 3 }, table.pack(t:join()))
      end)
    end))

  it("the child starts on a later scheduler turn, never before spawn "
     .. "returns (SP-05)", S.async(function()
    local log = S.recorder()
    loom.with_group(function(g)
      g:spawn(function() log("child") end)
      log("spawned")
      loom.sleep(0)
      log("after yield")
    end)
    assert.same({ "spawned", "child", "after yield" }, log.list)
  end))

  it("children first run in spawn order", S.async(function()
    local log = S.recorder()
    loom.with_group(function(g)
      for i = 1, 5 do g:spawn(log, i) end
    end)
    assert.same({ 1, 2, 3, 4, 5 }, log.list)
  end))

  it("any task holding g may spawn into it, also while the host waits for "
     .. "the children (SP-03)", vasync(function()
    local log = S.recorder()
    loom.with_group(function(g)
      g:spawn(function()
        loom.sleep(0.01)
        g:spawn(function() loom.sleep(0.01); log("grandchild") end)
        log("child")
      end)
    end)
    log("after")
    assert.same({ "child", "grandchild", "after" }, log.list)
  end))

  it("raises an error containing 'closed' after with_group returned, "
     .. "without running fn", S.async(function()
    local G
    loom.with_group(function(g) G = g end)
    local ran = false
    local e = S.catch(G.spawn, G, function() ran = true end)
    assert.matches("closed", tostring(e))
    loom.sleep(0)
    assert.is_false(ran)
  end))

  it("raises 'closed' also after the group failed", S.async(function()
    local G
    pcall(loom.with_group, function(g) G = g; g:spawn(error, "x") end)
    assert.matches("closed", tostring(S.catch(G.spawn, G, print)))
  end))

  it("into a group being cancelled still creates the task; it runs until "
     .. "its first checkpoint (SP-04, SP-06)", S.async(function()
    local log = S.recorder()
    loom.with_group(function(g)
      g:cancel()
      local t = g:spawn(function()
        log("ran")
        loom.checkpoint()
        log("not reached")
      end)
      assert.is_not_nil(t)
      assert.is_true(loom.is_cancelled(S.catch(loom.checkpoint)))
      assert.equal("cancelled", loom.shield(function() return t:wait() end))
    end)
    assert.same({ "ran" }, log.list)
  end))

  it("into a group that is failing, from a child's cleanup, works (SP-04)",
    vasync(function()
      local log = S.recorder()
      local ok, eg = pcall(loom.with_group, function(g)
        g:spawn(function()
          local _, e = pcall(loom.sleep, 1)
          g:spawn(function() log("late child ran") end)
          error(e, 0)
        end)
        g:spawn(function() loom.sleep(0.01); error("boom", 0) end)
      end)
      assert.is_false(ok)
      assert.same({ "boom" }, eg.errors)
      assert.same({ "late child ran" }, log.list)
    end))

  it("rejects a non-callable, naming the argument, and other children are "
     .. "not affected (SP-07)", S.async(function()
    loom.with_group(function(g)
      local t = g:spawn(function() return "fine" end)
      for _, v in ipairs { 3, "f", {} } do
        local e = S.catch(function() g:spawn(v) end)
        assert.matches("bad argument #1 to 'spawn' %(function expected",
                       tostring(e))
      end
      assert.matches("bad argument #1 to 'spawn'",
                     tostring(S.catch(function() g.spawn(3, print) end)))
      assert.equal("fine", t:join())
    end)
  end))

  it("accepts a callable table", S.async(function()
    loom.with_group(function(g)
      local f = setmetatable({}, { __call = function(_, x) return x end })
      assert.equal(9, g:spawn(f, 9):join())
    end)
  end))

  it("a child that fails before its first yield still cancels its "
     .. "siblings, in any spawn order (SP-08)", vasync(function()
    for _, first in ipairs { true, false } do
      local t0 = loom.now()
      local ok, eg = pcall(loom.with_group, function(g)
        if first then g:spawn(error, "early") end
        g:spawn(loom.sleep, 10)
        if not first then g:spawn(error, "early") end
      end)
      assert.is_false(ok)
      assert.same({ "early" }, eg.errors)
      took(t0, 0, 0.1)
    end
  end))
end)

describe("Group:start", function()
  it("returns the values passed to started, and the child goes on in the "
     .. "group (ST-01)", vasync(function()
    local log = S.recorder()
    loom.with_group(function(g)
      local r = table.pack(g:start(function(started, x)
        loom.sleep(0.01)
        started(x, nil, 3)
        loom.sleep(0.01)
        log("child done")
      end, "x"))
      assert.same({ n = 3, "x", nil, 3 }, r)
      log("started")
    end)
    assert.same({ "started", "child done" }, log.list)
  end))

  it("returns nothing when started() gets no value", S.async(function()
    loom.with_group(function(g)
      assert.equal(0, select("#", g:start(function(started) started() end)))
    end)
  end))

  it("raises the child's error when it fails before started, once: the "
     .. "group does not report it (ST-03)", vasync(function()
    local E = {}
    local e
    local r = loom.with_group(function(g)
      e = S.catch(g.start, g, function() loom.sleep(0.01); error(E) end)
      return "group ok"
    end)
    assert.equal(E, e)
    assert.equal("group ok", r)
  end))

  it("a failure before started that the caller does not catch is in the "
     .. "ErrorGroup once (as the body's error)", vasync(function()
    local E = {}
    local ok, eg = pcall(loom.with_group, function(g)
      g:start(function() loom.sleep(0.01); error(E) end)
    end)
    assert.is_false(ok)
    assert.equal(1, #eg.errors)
    assert.equal(E, eg.errors[1])
  end))

  it("the traceback of a failure before started names the child",
    vasync(function()
      local ok, eg = pcall(loom.with_group, function(g)
        g:start(function()
          loom.current_task().name = "starter"
          loom.sleep(0.01)
          error({})
        end)
      end)
      assert.is_false(ok)
      assert.matches("in task 'starter'", eg.tracebacks[1], 1, true)
    end))

  it("raises an error containing 'started' when the child returns first "
     .. "(ST-04)", S.async(function()
    loom.with_group(function(g)
      local e = S.catch(g.start, g, function() return 1 end)
      assert.matches("started", tostring(e))
    end)
  end))

  it("raises an error containing 'started' when the child is cancelled "
     .. "first", S.async(function()
    loom.with_group(function(g)
      local e = S.catch(g.start, g, function()
        loom.current_task():cancel()
        loom.checkpoint()
      end)
      assert.matches("started", tostring(e))
      assert.is_false(loom.is_cancelled(e))
    end)
  end))

  it("calling started twice raises an error containing 'already' (ST-02)",
    S.async(function()
      local e
      loom.with_group(function(g)
        g:start(function(started)
          started(1)
          e = S.catch(started, 2)
        end)
      end)
      assert.matches("already", tostring(e))
    end))

  it("on a closed group raises 'closed' without running fn (SP-02)",
    S.async(function()
      local G
      loom.with_group(function(g) G = g end)
      local ran = false
      local e = S.catch(G.start, G, function(started) ran = true; started() end)
      assert.matches("closed", tostring(e))
      loom.sleep(0)
      assert.is_false(ran)
    end))

  it("in an already-cancelled scope raises Cancelled without running fn",
    S.async(function()
      local ran = false
      loom.with_group(function(g)
        loom.scope(function(s)
          s:cancel()
          local e = S.catch(g.start, g, function(st) ran = true; st() end)
          assert.is_true(loom.is_cancelled(e))
        end)
        loom.sleep(0)
      end)
      assert.is_false(ran)
    end))

  it("is a checkpoint even when the group has room", S.async(function()
    loom.with_group({ limit = 5 }, function(g)
      loom.move_on_after(0, function()
        assert.is_true(loom.is_cancelled(S.catch(g.start, g, function(st)
          st() end)))
      end)
    end)
  end))

  it("before started the child runs under the caller's scopes (ST-09)",
    vasync(function()
      local log = S.recorder()
      loom.with_group(function(g)
        loom.move_on_after(0.01, function()
          g:start(function(started)
            local ok = pcall(loom.sleep, 1)
            log(ok and "slept" or "cancelled by the caller's scope")
            started()
          end)
          log("start returned")
        end)
      end)
      assert.equal("cancelled by the caller's scope", log.list[1])
    end))

  it("after started the child runs under the group's scope, not the "
     .. "caller's (ST-07)", vasync(function()
    local log = S.recorder()
    loom.with_group(function(g)
      loom.scope(function(s)
        g:start(function(started)
          started()
          local ok = pcall(loom.sleep, 0.01)
          log(ok and "child slept" or "child cancelled")
        end)
        s:cancel()
        loom.checkpoint()
      end)
      log("scope left")
    end)
    assert.same({ "scope left", "child slept" }, log.list)
  end))

  it("a started child moved into a cancelled group is cancelled",
    vasync(function()
      local st
      loom.with_group(function(g)
        g:cancel()
        loom.shield(function()
          local r = g:start(function(started)
            loom.shield(function() started("ok") end)
            local ok = pcall(loom.sleep, 1)
            st = ok and "slept" or "cancelled"
          end)
          assert.equal("ok", r)
        end)
      end)
      assert.equal("cancelled", st)
    end))

  it("if the caller is cancelled while waiting, the child is cancelled "
     .. "too, start waits for it, and the cancellation goes on in the caller",
    vasync(function()
      local log = S.recorder()
      local s0
      loom.with_group(function(g)
        loom.move_on_after(0.01, function(s)
          s0 = s
          g:start(function(_started)
            local _, e = pcall(loom.sleep, 1)
            log(loom.is_cancelled(e) and "child cancelled" or "child slept")
            loom.shield(function() loom.sleep(0.01) end)
            log("child cleanup done")
            error(e, 0)
          end)
          log("not reached")
        end)
        log("after scope")
      end)
      assert.same({ "child cancelled", "child cleanup done", "after scope" },
                  log.list)
      assert.is_true(s0.cancelled_caught)
    end))

  it("a child error after started goes to the group (ST-05)",
    vasync(function()
      local ok, eg = pcall(loom.with_group, function(g)
        local v = g:start(function(started)
          started("v")
          loom.sleep(0.01)
          error("after", 0)
        end)
        assert.equal("v", v)
      end)
      assert.is_false(ok)
      assert.same({ "after" }, eg.errors)
    end))

  it("a pending start from another task keeps the group open after its "
     .. "body ended (ST-08)", vasync(function()
    local log = S.recorder()
    loom.with_group(function(outer)
      local G
      outer:spawn(function()
        loom.sleep(0.01)
        G:start(function(started)
          loom.sleep(0.01)
          started()
          loom.sleep(0.01)
          log("late child done")
        end)
        log("start returned")
      end)
      loom.with_group(function(g)
        G = g
        g:spawn(loom.sleep, 0.015)
      end)
      log("inner group closed")
    end)
    assert.same({ "start returned", "late child done", "inner group closed" },
                log.list)
  end))

  it("a start in a body whose sibling crashes is cancelled promptly "
     .. "(ST-10)", vasync(function()
    local t0 = loom.now()
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(function() loom.sleep(0.01); error("crash", 0) end)
      g:start(function(started)
        loom.sleep(10)
        started()
      end)
    end)
    assert.is_false(ok)
    assert.same({ "crash" }, eg.errors)
    took(t0, 0.01)
  end))

  it("rejects a non-callable, naming the argument", S.async(function()
    loom.with_group(function(g)
      assert.matches("bad argument #1 to 'start' %(function expected",
                     tostring(S.catch(function() g:start(3) end)))
    end)
  end))

  describe("cancellation", function()
    it("while blocked before started (see above) and with an expired "
       .. "deadline", S.async(function()
      loom.with_group(function(g)
        local ran = false
        local e = S.catch(loom.timeout, -1, function()
          g:start(function(st) ran = true; st() end)
        end)
        assert.is_true(loom.TimeoutError:is(e))
        loom.sleep(0)
        assert.is_false(ran)
      end)
    end))

    it("at the moment started is called: start returns the values and the "
       .. "caller's next checkpoint raises", vasync(function()
      local got, after
      loom.with_group(function(g)
        loom.scope(function(s)
          got = g:start(function(started)
            started("v")
            s:cancel()
          end)
          after = S.catch(loom.checkpoint)
        end)
      end)
      assert.equal("v", got)
      assert.is_true(loom.is_cancelled(after))
    end))

    it("is not raised under a shield", vasync(function()
      loom.with_group(function(g)
        loom.scope(function(s)
          s:cancel()
          local v = loom.shield(function()
            return g:start(function(started)
              loom.sleep(0.01)
              started("shielded")
            end)
          end)
          assert.equal("shielded", v)
        end)
      end)
    end))
  end)
end)

describe("Group:cancel", function()
  it("cancels every child and the body; with_group returns nothing when "
     .. "the body had not returned", vasync(function()
    local log = S.recorder()
    local r = table.pack(loom.with_group(function(g)
      g:spawn(sleeper(log, "a", 1))
      g:spawn(sleeper(log, "b", 1))
      loom.sleep(0.01)
      g:cancel()
      loom.sleep(1)
      log("body not reached")
      return "x"
    end))
    assert.equal(0, r.n)
    assert.same({ "a cancelled", "b cancelled" }, log.list)
  end))

  it("with_group returns the body's results when it had already returned",
    vasync(function()
      local r = table.pack(loom.with_group(function(g)
        g:spawn(function() loom.sleep(0.01); g:cancel() end)
        g:spawn(loom.sleep, 1)
        return 1, nil
      end))
      assert.same({ n = 2, 1, nil }, r)
    end))

  it("called by the body before it returns, results are still returned",
    S.async(function()
      local r = table.pack(loom.with_group(function(g)
        g:spawn(loom.sleep, 1)
        g:cancel()
        return "r"
      end))
      assert.same({ n = 1, "r" }, r)
    end))

  it("ends the cancellation at the group: the caller is not cancelled",
    vasync(function()
      loom.with_group(function(g)
        g:spawn(loom.sleep, 1)
        g:cancel()
        loom.sleep(1)
      end)
      loom.sleep(0.001)
      loom.checkpoint()
    end))

  it("errors raised during the cleanup are still reported (CH-04)",
    vasync(function()
      local ok, eg = pcall(loom.with_group, function(g)
        g:spawn(function()
          local ok2 = pcall(loom.sleep, 1)
          assert(not ok2)
          error("cleanup failed", 0)
        end)
        loom.sleep(0.01)
        g:cancel()
      end)
      assert.is_false(ok)
      assert.same({ "cleanup failed" }, eg.errors)
    end))

  it("is idempotent and works from a child", vasync(function()
    local r = loom.with_group(function(g)
      g:spawn(function() g:cancel(); g:cancel() end)
      g:spawn(loom.sleep, 1)
      loom.sleep(1)
    end)
    assert.is_nil(r)
  end))

  it("has no effect after with_group returned", S.async(function()
    local G
    loom.with_group(function(g) G = g end)
    G:cancel()
    loom.checkpoint()
  end))

  it("a task can be cancelled by successive groups (CH-04)", vasync(function()
    for _ = 1, 2 do
      loom.with_group(function(g)
        g:spawn(loom.sleep, 1)
        g:cancel()
        assert.is_true(loom.is_cancelled(S.catch(loom.sleep, 1)))
      end)
      loom.sleep(0.001)
    end
  end))
end)

describe("Group.cancel_called", function()
  it("is false, then true once g:cancel() ran", S.async(function()
    loom.with_group(function(g)
      assert.is_false(g.cancel_called)
      g:cancel()
      assert.is_true(g.cancel_called)
    end)
  end))

  it("is true once a failure began cancelling the group", vasync(function()
    local seen
    pcall(loom.with_group, function(g)
      g:spawn(function() loom.sleep(0.01); error("x") end)
      pcall(loom.sleep, 1)
      seen = g.cancel_called
    end)
    assert.is_true(seen)
  end))

  it("stays false when only a child was cancelled (CH-01)", vasync(function()
    local G
    loom.with_group(function(g)
      G = g
      local t = g:spawn(loom.sleep, 1)
      loom.sleep(0)
      t:cancel()
    end)
    assert.is_false(G.cancel_called)
  end))

  it("stays false when an enclosing scope cancelled the group",
    vasync(function()
      local G
      loom.move_on_after(0.01, function()
        loom.with_group(function(g)
          G = g
          g:spawn(loom.sleep, 1)
        end)
      end)
      assert.is_false(G.cancel_called)
    end))
end)

describe("group failure", function()
  it("one child fails: the siblings and the body are cancelled, their "
     .. "cleanup runs, the group raises an ErrorGroup with that error "
     .. "(CF-01)", vasync(function()
    local log = S.recorder()
    local E = {}
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(sleeper(log, "sibling", 1))
      g:spawn(function() loom.sleep(0.01); error(E) end)
      local ok2 = pcall(loom.sleep, 1)
      log(ok2 and "body slept" or "body cancelled")
      error(select(2, pcall(loom.checkpoint)), 0)
    end)
    log("after")
    assert.is_false(ok)
    assert.is_true(loom.ErrorGroup:is(eg))
    assert.equal(1, #eg.errors)
    assert.equal(E, eg.errors[1])
    assert.same({ "body cancelled", "sibling cancelled", "after" }, log.list)
  end))

  it("a child fails while the host waits for the children: siblings are "
     .. "cancelled (CF-01)", vasync(function()
    local log = S.recorder()
    local t0 = loom.now()
    local ok = pcall(loom.with_group, function(g)
      g:spawn(sleeper(log, "sibling", 1))
      g:spawn(function() loom.sleep(0.01); error("x") end)
    end)
    assert.is_false(ok)
    assert.same({ "sibling cancelled" }, log.list)
    took(t0, 0.01)
  end))

  it("the body fails: all children are cancelled, the ErrorGroup holds "
     .. "the body's error (CF-02)", vasync(function()
    local log = S.recorder()
    for _, wait_first in ipairs { false, true } do
      local E = {}
      local ok, eg = pcall(loom.with_group, function(g)
        g:spawn(sleeper(log, "child", 1))
        if wait_first then loom.sleep(0.01) end
        error(E)
      end)
      assert.is_false(ok)
      assert.equal(1, #eg.errors)
      assert.equal(E, eg.errors[1])
    end
    assert.same({ "child cancelled", "child cancelled" }, log.list)
  end))

  it("a single error is still wrapped in an ErrorGroup (AG-05)",
    S.async(function()
      local ok, eg = pcall(loom.with_group, function() error("only", 0) end)
      assert.is_false(ok)
      assert.is_true(loom.ErrorGroup:is(eg))
      assert.same({ "only" }, eg.errors)
    end))

  it("after catching the ErrorGroup the caller is not left cancelled "
     .. "(CF-04)", vasync(function()
    pcall(loom.with_group, function(g)
      g:spawn(error, "x")
      loom.sleep(1)
    end)
    loom.sleep(0.001)
    loom.checkpoint()
  end))

  it("two children fail: both errors, in order (AG-01)", S.async(function()
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(error, "one", 0)
      g:spawn(error, "two", 0)
    end)
    assert.is_false(ok)
    assert.same({ "one", "two" }, eg.errors)
  end))

  it("the body and a child both fail: both in one ErrorGroup (AG-02)",
    vasync(function()
      local ok, eg = pcall(loom.with_group, function(g)
        g:spawn(function()
          pcall(loom.sleep, 1)
          error("child", 0)
        end)
        loom.sleep(0.01)
        error("body", 0)
      end)
      assert.is_false(ok)
      assert.same({ "body", "child" }, eg.errors)
    end))

  it("a nested group's failure is one nested entry (AG-04)", vasync(function()
    local E = {}
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(function()
        loom.with_group(function(g2) g2:spawn(error, E) end)
      end)
      loom.sleep(1)
    end)
    assert.is_false(ok)
    assert.equal(1, #eg.errors)
    local inner = eg.errors[1]
    assert.is_true(loom.ErrorGroup:is(inner))
    assert.equal(E, inner.errors[1])
  end))

  it("an outer child fails first: the inner group ends cancelled and "
     .. "leaves no empty entry (AG-04)", vasync(function()
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(function()
        loom.with_group(function(g2) g2:spawn(loom.sleep, 1) end)
      end)
      g:spawn(function() loom.sleep(0.01); error("outer", 0) end)
    end)
    assert.is_false(ok)
    assert.same({ "outer" }, eg.errors)
  end))

  it("cancellations are never entries: cancelled children are skipped "
     .. "(AG-06)", vasync(function()
    local ok, eg = pcall(loom.with_group, function(g)
      for _ = 1, 3 do g:spawn(loom.sleep, 1) end
      g:spawn(function() loom.sleep(0.01); error("x", 0) end)
    end)
    assert.is_false(ok)
    assert.same({ "x" }, eg.errors)
  end))

  it("nil, false, strings, numbers, tables and userdata are aggregated as "
     .. "they are (AG-07)", S.async(function()
    local T = {}
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(error, nil)
      g:spawn(error, false)
      g:spawn(error, "s", 0)
      g:spawn(error, 7)
      g:spawn(error, T)
      g:spawn(error, io.stderr)
    end)
    assert.is_false(ok)
    assert.equal(6, #eg.errors)
    assert.equal("string", type(eg.errors[1]))
    assert.same({ false, "s", 7 }, { eg.errors[2], eg.errors[3], eg.errors[4] })
    assert.equal(T, eg.errors[5])
    assert.equal(io.stderr, eg.errors[6])
  end))

  it("the error unwinds the child's stack first: <close> handlers run and "
     .. "may wait under a shield before the group sees the error",
    vasync(function()
      local log = S.recorder()
      pcall(loom.with_group, function(g)
        g:spawn(function()
          local _ <close> = setmetatable({}, { __close = function(_, e)
            log("close sees " .. tostring(e))
            loom.shield(function() loom.sleep(0.01) end)
            log("close done")
          end })
          error("E", 0)
        end)
        local ok = pcall(loom.sleep, 1)
        log(ok and "body slept" or "body cancelled")
      end)
      assert.same({ "close sees E", "close done", "body cancelled" }, log.list)
    end))
end)

describe("group and cancellation of its parts", function()
  it("a scope inside a child absorbs its own cancel; the child and the "
     .. "group go on (CH-02)", vasync(function()
    local log = S.recorder()
    local r = loom.with_group(function(g)
      g:spawn(function()
        loom.scope(function(s)
          s:cancel()
          loom.sleep(1)
        end)
        log("child after own scope")
      end)
      local s0
      g:spawn(function()
        loom.scope(function(s)
          s0 = s
          loom.sleep(1)
        end)
        log("child after scope cancelled by another task")
      end)
      loom.sleep(0.01)
      s0:cancel()
      return "group ok"
    end)
    assert.equal("group ok", r)
    assert.same({ "child after own scope",
                  "child after scope cancelled by another task" }, log.list)
  end))

  it("children without checkpoints in a cancelled scope: the group "
     .. "returns the body's results", S.async(function()
    local r
    loom.scope(function(s)
      s:cancel()
      r = loom.with_group(function(g)
        g:spawn(function() return 1 end)
        g:spawn(function() return 2 end)
        return "body"
      end)
    end)
    assert.equal("body", r)
  end))

  it("t:cancel() of a host waiting for its children: they are cancelled "
     .. "and awaited, the host ends cancelled", vasync(function()
    local log = S.recorder()
    loom.with_group(function(outer)
      local host = outer:spawn(function()
        loom.with_group(function(g)
          g:spawn(function()
            local _, e = pcall(loom.sleep, 1)
            loom.shield(function() loom.sleep(0.01) end)
            log("child cleanup done")
            error(e, 0)
          end)
        end)
        log("host not reached")
      end)
      loom.sleep(0.01)
      host:cancel()
      assert.equal("cancelled", host:wait())
      log("host cancelled")
    end)
    assert.same({ "child cleanup done", "host cancelled" }, log.list)
  end))

  it("the body's Cancelled comes out of with_group unchanged",
    S.async(function()
      local inside, outside
      loom.scope(function(s)
        s:cancel()
        local _, e = pcall(loom.with_group, function(g)
          g:spawn(loom.sleep, 1)
          local _, e2 = pcall(loom.checkpoint)
          inside = e2
          error(e2, 0)
        end)
        outside = e
        error(e, 0)
      end)
      assert.is_true(loom.is_cancelled(inside))
      assert.equal(inside, outside)
    end))
end)

describe("group and outside cancellation", function()
  it("the host cancelled from an enclosing scope: children and body are "
     .. "cancelled, one Cancelled goes out and the scope absorbs it (EX-01)",
    vasync(function()
      local log = S.recorder()
      local r = table.pack(loom.move_on_after(0.01, function()
        loom.with_group(function(g)
          g:spawn(sleeper(log, "a", 1))
          g:spawn(sleeper(log, "b", 1))
          local ok = pcall(loom.sleep, 1)
          log(ok and "body slept" or "body cancelled")
          loom.checkpoint()
        end)
        log("not reached")
      end))
      assert.equal(0, r.n)
      table.sort(log.list)
      assert.same({ "a cancelled", "b cancelled", "body cancelled" }, log.list)
    end))

  it("the host cancelled while waiting for the children: they are "
     .. "cancelled and still awaited (EX-02)", vasync(function()
    local log = S.recorder()
    local s0
    loom.move_on_after(0.01, function(s)
      s0 = s
      loom.with_group(function(g)
        g:spawn(function()
          local ok, e = pcall(loom.sleep, 1)
          loom.shield(function() loom.sleep(0.01) end)
          log(ok and "slept" or "cleanup done")
          error(e, 0)
        end)
      end)
      log("not reached")
    end)
    log("after")
    assert.same({ "cleanup done", "after" }, log.list)
    assert.is_true(s0.cancelled_caught)
  end))

  it("the cancellation goes on also when the body had already returned",
    vasync(function()
      local after_group = false
      local r = table.pack(loom.move_on_after(0.01, function()
        loom.with_group(function(g) g:spawn(loom.sleep, 1) end)
        after_group = true
        return "x"
      end))
      assert.equal(0, r.n)
      assert.is_false(after_group)
    end))

  it("outer cancel, then children fail in their cleanup: the ErrorGroup "
     .. "wins over Cancelled (EX-03)", vasync(function()
    local e
    loom.move_on_after(0.01, function()
      e = S.catch(loom.with_group, function(g)
        g:spawn(function()
          pcall(loom.sleep, 1)
          error("cleanup", 0)
        end)
        loom.sleep(1)
      end)
    end)
    assert.is_true(loom.ErrorGroup:is(e))
    assert.same({ "cleanup" }, e.errors)
  end))

  it("the body turns the cancellation into another error: ErrorGroup of "
     .. "it (EX-04)", vasync(function()
    local e
    loom.move_on_after(0.01, function()
      e = S.catch(loom.with_group, function()
        local ok = pcall(loom.sleep, 1)
        assert(not ok)
        error("mine", 0)
      end)
    end)
    assert.is_true(loom.ErrorGroup:is(e))
    assert.same({ "mine" }, e.errors)
  end))

  it("after EX-03 the outside cancellation is not lost: the next "
     .. "checkpoint raises (EX-05)", vasync(function()
    local after
    local s0
    loom.move_on_after(0.01, function(s)
      s0 = s
      pcall(loom.with_group, function(g)
        g:spawn(function() pcall(loom.sleep, 1); error("c", 0) end)
        loom.sleep(1)
      end)
      after = S.catch(loom.checkpoint)
    end)
    assert.is_true(loom.is_cancelled(after))
    assert.is_true(s0.cancel_called)
  end))

  it("a host in a shielded scope does not shield children it spawned "
     .. "earlier into an outer group (CS-10)", vasync(function()
    local st
    loom.move_on_after(0.01, function()
      loom.with_group(function(g)
        loom.shield(function()
          local t = g:spawn(loom.sleep, 1)
          st = t:wait()
        end)
      end)
    end)
    assert.equal("cancelled", st)
  end))
end)

describe("spawning from outside while the group is closing", function()
  -- The host is woken when its last child finishes; another task holding
  -- g runs before the host in the same pass and spawns into g, which is
  -- still open. with_group must wait for that child too (or refuse the
  -- spawn with 'closed'), never return while it runs.
  it("a task outside the group spawning in the pass where the last child "
     .. "finished: with_group waits for the new child", function()
    local status, out = run_lua([[
      local loom = require "loom"
      local log = {}
      loom.run(function()
        loom.with_group(function(outer)
          local G, armed
          outer:spawn(function()
            while not armed do loom.sleep(0) end
            loom.sleep(0.02)          -- same instant as the last child
            local ok = pcall(G.spawn, G, function()
              loom.sleep(0.02)
              log[#log + 1] = "late child done"
            end)
            log[#log + 1] = ok and "spawned" or "refused"
          end)
          loom.with_group(function(g)
            G = g
            g:spawn(function() armed = true; loom.sleep(0.02) end)
          end)
          log[#log + 1] = "with_group returned"
        end)
      end)
      print(table.concat(log, ","))
    ]], 10)
    assert.equal(0, status, out)
    assert.is_truthy(out:find("spawned,late child done,with_group returned", 1,
                              true) or out:find("refused,with_group returned",
                                                1, true), out)
  end)

  it("a spawner waiting for room (limit) woken with the host: with_group "
     .. "waits for the child it makes", function()
    local status, out = run_lua([[
      local loom = require "loom"
      local log = {}
      loom.run(function()
        loom.with_group(function(outer)
          local G
          outer:spawn(function()
            loom.sleep(0.005)
            local ok = pcall(G.spawn, G, function()     -- waits for room
              loom.sleep(0.02)
              log[#log + 1] = "late child done"
            end)
            log[#log + 1] = ok and "spawned" or "refused"
          end)
          loom.with_group({ limit = 1 }, function(g)
            G = g
            g:spawn(loom.sleep, 0.02)
          end)
          log[#log + 1] = "with_group returned"
        end)
      end)
      print(table.concat(log, ","))
    ]], 10)
    assert.equal(0, status, out)
    assert.is_truthy(out:find("spawned,late child done,with_group returned", 1,
                              true) or out:find("refused,with_group returned",
                                                1, true), out)
  end)

  it("the error of a child spawned in that pass is reported, not lost "
     .. "(and the process does not crash)", function()
    local status, out = run_lua([[
      local loom = require "loom"
      local result = "no error"
      loom.run(function()
        loom.with_group(function(outer)
          local G, armed
          outer:spawn(function()
            while not armed do loom.sleep(0) end
            loom.sleep(0.02)
            pcall(G.spawn, G, function() loom.sleep(0.02); error("late") end)
          end)
          local ok, e = pcall(loom.with_group, function(g)
            G = g
            g:spawn(function() armed = true; loom.sleep(0.02) end)
          end)
          if not ok then result = tostring(e) end
        end)
      end)
      print("result: " .. result)
    ]], 10)
    assert.equal(0, status, out)
    assert.matches("result: [^\n]*ErrorGroup", out)
  end)
end)

describe("self-replicating children (SP-03 'hydra')", function()
  it("keep the group open until a sibling fails", vasync(function()
    local n = 0
    local ok, eg = pcall(loom.with_group, function(g)
      local function hydra()
        n = n + 1
        loom.sleep(0.001)
        g:spawn(hydra)
        g:spawn(hydra)
      end
      g:spawn(hydra)
      g:spawn(function() loom.sleep(0.0035); error("stop", 0) end)
    end)
    assert.is_false(ok)
    assert.same({ "stop" }, eg.errors)
    assert.is_true(n >= 3)
  end))
end)
