-- Tasks (README, "Tasks, groups and scopes"): join, wait, result,
-- cancel, done, cancelled, status and name. Codes in test names, such as
-- (CH-01), name behaviours of doc/SEMANTICS.md.
local loom = require "loom"
local S = require "spec.support"

local vasync = S.vasync

-- Run `body(t, ...)` where `t` is a task of another group than the one
-- calling body: body runs in a sibling task, so that t failing does not
-- cancel it. `fn` is t's function. Returns what body returned.
local function with_foreign_task(fn, body)
  local r
  loom.with_group(function(outer)
    local t
    outer:spawn(function() r = table.pack(body(t)) end)
    pcall(loom.with_group, function(g) t = g:spawn(fn) end)
  end)
  return table.unpack(r, 1, r.n)
end

local function spawn_cancelled(g)
  local t = g:spawn(loom.sleep, 10)
  loom.sleep(0)
  t:cancel()
  return t
end

describe("Task:join", function()
  it("returns all the task's results, nils included", vasync(function()
    loom.with_group(function(g)
      local t = g:spawn(function() loom.sleep(0.01); return 1, nil, 3, nil end)
      local r = table.pack(t:join())
      assert.same({ n = 4, 1, nil, 3, nil }, r)
      assert.equal(0, select("#", g:spawn(function() end):join()))
    end)
  end))

  it("raises the task's error value itself", vasync(function()
    local E = {}
    local e = with_foreign_task(function() loom.sleep(0.01); error(E) end,
      function(t) return S.catch(t.join, t) end)
    assert.equal(E, e)
  end))

  it("raises a string error unchanged", vasync(function()
    local e = with_foreign_task(function() error("plain", 0) end,
      function(t) return S.catch(t.join, t) end)
    assert.equal("plain", e)
  end))

  it("raises a TaskCancelled for a cancelled task, which is not a "
     .. "cancellation of the joiner", vasync(function()
    loom.with_group(function(g)
      local t = spawn_cancelled(g)
      local e = S.catch(t.join, t)
      assert.is_true(loom.TaskCancelled:is(e))
      assert.is_false(loom.is_cancelled(e))
      loom.checkpoint()   -- the joiner is not cancelled
      assert.is_true(loom.TaskCancelled:is(S.catch(t.join, t)))
    end)
  end))

  it("wakes every joiner", vasync(function()
    local got = {}
    loom.with_group(function(g)
      local t = g:spawn(function() loom.sleep(0.01); return "r" end)
      for i = 1, 3 do g:spawn(function() got[i] = t:join() end) end
    end)
    assert.same({ "r", "r", "r" }, got)
  end))

  it("returns at once for a finished task, but is still a checkpoint",
    S.async(function()
      loom.with_group(function(g)
        local t = g:spawn(function() return 5 end)
        loom.sleep(0)
        assert.equal(5, t:join())
        loom.scope(function(s)
          s:cancel()
          assert.is_true(loom.is_cancelled(S.catch(t.join, t)))
        end)
      end)
    end))

  it("of the current task raises an error instead of hanging",
    S.async(function()
      local t = loom.current_task()
      assert.has_error(function() t:join() end)
    end))

  it("rejects a non-Task self, naming the argument", S.async(function()
    local e = S.catch(function() loom.current_task().join(3) end)
    assert.matches("bad argument #1 to 'join' %(loom.Task expected",
                   tostring(e))
  end))

  describe("cancellation", function()
    it("is raised while blocked; the joined task goes on", vasync(function()
      loom.with_group(function(g)
        local t = g:spawn(function() loom.sleep(0.02); return "done" end)
        local r = table.pack(loom.move_on_after(0.01, function()
          return t:join()
        end))
        assert.equal(0, r.n)
        assert.is_false(t:done())
        assert.equal("done", t:join())
      end)
    end))

    it("at the moment the task finishes: the results are returned and the "
       .. "next checkpoint raises", vasync(function()
      local got, after
      loom.with_group(function(g)
        local joiner
        g:spawn(function() loom.sleep(0.01); joiner:cancel() end)
        local t = g:spawn(function() loom.sleep(0.01); return "r" end)
        joiner = g:spawn(function()
          local ok, v = pcall(t.join, t)
          got = ok and v or "raised"
          after = S.catch(loom.checkpoint)
        end)
      end)
      assert.is_true(got == "r" or got == "raised")
      assert.is_true(loom.is_cancelled(after))
    end))

    it("with an already expired deadline", vasync(function()
      loom.with_group(function(g)
        local t = g:spawn(loom.sleep, 0.01)
        local e = S.catch(loom.timeout, 0, function() t:join() end)
        assert.is_true(loom.TimeoutError:is(e))
        assert.is_false(t:done())
      end)
    end))

    it("is not raised under a shield", vasync(function()
      loom.with_group(function(g)
        local t = g:spawn(function() loom.sleep(0.01); return "r" end)
        loom.scope(function(s)
          s:cancel()
          loom.shield(function() assert.equal("r", t:join()) end)
        end)
      end)
    end))
  end)
end)

describe("Task:wait", function()
  it("returns 'ok' and every result, nils included", vasync(function()
    loom.with_group(function(g)
      local t = g:spawn(function() loom.sleep(0.01); return nil, 2, nil end)
      assert.same({ n = 4, "ok", nil, 2, nil }, table.pack(t:wait()))
    end)
  end))

  it("returns 'error' and the error value itself", vasync(function()
    local E = {}
    local r = with_foreign_task(function() loom.sleep(0.01); error(E) end,
      function(t) return table.pack(t:wait()) end)
    assert.equal("error", r[1])
    assert.equal(E, r[2])
  end))

  it("returns 'cancelled' for a cancelled task", vasync(function()
    loom.with_group(function(g)
      local t = spawn_cancelled(g)
      assert.same({ n = 1, "cancelled" }, table.pack(t:wait()))
    end)
  end))

  it("never raises for the task's outcome", vasync(function()
    local E = {}
    local r = with_foreign_task(function() error(E) end, function(t)
      return table.pack(pcall(t.wait, t))
    end)
    assert.is_true(r[1])
    assert.equal("error", r[2])
  end))

  describe("cancellation", function()
    it("is raised while blocked", vasync(function()
      loom.with_group(function(g)
        local t = g:spawn(loom.sleep, 0.02)
        local e = S.catch(loom.timeout, 0.01, function() t:wait() end)
        assert.is_true(loom.TimeoutError:is(e))
        assert.is_false(t:done())
      end)
    end))

    it("at the moment the task finishes: the outcome is returned and the "
       .. "next checkpoint raises", vasync(function()
      local got, after
      loom.with_group(function(g)
        local waiter
        g:spawn(function() loom.sleep(0.01); waiter:cancel() end)
        local t = g:spawn(function() loom.sleep(0.01); return "r" end)
        waiter = g:spawn(function()
          local ok, st = pcall(t.wait, t)
          got = ok and st or "raised"
          after = S.catch(loom.checkpoint)
        end)
      end)
      assert.is_true(got == "ok" or got == "raised")
      assert.is_true(loom.is_cancelled(after))
    end))

    it("with an already expired deadline, also for a finished task",
      S.async(function()
        loom.with_group(function(g)
          local t = g:spawn(function() end)
          loom.sleep(0)
          local e = S.catch(loom.timeout, 0, function() t:wait() end)
          assert.is_true(loom.TimeoutError:is(e))
        end)
      end))

    it("is not raised under a shield", vasync(function()
      loom.with_group(function(g)
        local t = g:spawn(function() loom.sleep(0.01); return 1 end)
        loom.scope(function(s)
          s:cancel()
          loom.shield(function()
            assert.same({ "ok", 1 }, { t:wait() })
          end)
        end)
      end)
    end))
  end)
end)

describe("Task:result", function()
  it("returns every result of a finished task, nils included",
    S.async(function()
      local t
      loom.with_group(function(g) t = g:spawn(function() return 1, nil end) end)
      assert.same({ n = 2, 1, nil }, table.pack(t:result()))
    end))

  it("raises the error value of a failed task", S.async(function()
    local E, t = {}, nil
    pcall(loom.with_group, function(g) t = g:spawn(error, E) end)
    assert.equal(E, S.catch(t.result, t))
  end))

  it("raises a TaskCancelled for a cancelled task", S.async(function()
    local t
    loom.with_group(function(g) t = spawn_cancelled(g) end)
    local e = S.catch(t.result, t)
    assert.is_true(loom.TaskCancelled:is(e))
    assert.is_false(loom.is_cancelled(e))
  end))

  it("raises an error containing 'not finished' while the task runs",
    vasync(function()
      loom.with_group(function(g)
        local t = g:spawn(loom.sleep, 0.01)
        assert.matches("not finished", tostring(S.catch(t.result, t)))
        loom.sleep(0)
        assert.matches("not finished", tostring(S.catch(t.result, t)))
      end)
    end))

  it("is not a checkpoint", S.async(function()
    loom.with_group(function(g)
      local t = g:spawn(function() return 7 end)
      loom.sleep(0)
      loom.scope(function(s)
        s:cancel()
        assert.equal(7, t:result())
      end)
    end)
  end))

  it("works outside any task", function()
    local t = loom.run(function()
      local t
      loom.with_group(function(g) t = g:spawn(function() return "v" end) end)
      return t
    end)
    assert.equal("v", t:result())
    assert.equal("ok", t.status)
    assert.is_true(t:done())
  end)
end)

describe("Task:cancel", function()
  it("cancels that task alone: siblings and the body go on, the group does "
     .. "not fail (CH-01)", vasync(function()
    local log = S.recorder()
    local cc
    local r = loom.with_group(function(g)
      local a = g:spawn(function()
        local ok, e = pcall(loom.sleep, 1)
        log(ok and "a slept" or "a cancelled")
        error(e, 0)
      end)
      g:spawn(function() loom.sleep(0.02); log("b done") end)
      loom.sleep(0.01)
      a:cancel()
      loom.sleep(0.02)
      log("body done")
      cc = g.cancel_called
      return "result"
    end)
    assert.equal("result", r)
    assert.same({ "a cancelled", "b done", "body done" }, log.list)
    assert.is_false(cc)
  end))

  it("has no effect on a finished task", S.async(function()
    loom.with_group(function(g)
      local t = g:spawn(function() return 1 end)
      loom.sleep(0)
      t:cancel()
      assert.equal("ok", t.status)
      assert.equal(1, t:join())
    end)
  end))

  it("is idempotent", vasync(function()
    loom.with_group(function(g)
      local t = g:spawn(loom.sleep, 1)
      loom.sleep(0)
      t:cancel()
      t:cancel()
      assert.equal("cancelled", t:wait())
    end)
  end))

  it("a task may cancel itself: its next checkpoint raises", S.async(function()
    local reached
    loom.with_group(function(g)
      local t = g:spawn(function()
        loom.current_task():cancel()
        reached = "before"
        loom.checkpoint()
        reached = "after"
      end)
      assert.equal("cancelled", t:wait())
    end)
    assert.equal("before", reached)
  end))

  it("a task cancelled before its first run still starts and meets "
     .. "Cancelled at its first checkpoint (SP-06)", S.async(function()
    local log = S.recorder()
    loom.with_group(function(g)
      local t = g:spawn(function()
        log("started")
        local _ <close> = setmetatable({}, { __close = function()
          log("cleanup") end })
        loom.checkpoint()
        log("not reached")
      end)
      t:cancel()
      assert.equal("cancelled", t:wait())
    end)
    assert.same({ "started", "cleanup" }, log.list)
  end))

  it("a task that catches Cancelled and returns ends 'ok' with its "
     .. "results (SW-03)", vasync(function()
    loom.with_group(function(g)
      local t = g:spawn(function()
        local ok, e = pcall(loom.sleep, 1)
        assert(not ok and loom.is_cancelled(e))
        return "caught", nil
      end)
      loom.sleep(0)
      t:cancel()
      assert.same({ n = 3, "ok", "caught", nil }, table.pack(t:wait()))
      assert.equal("ok", t.status)
      assert.is_false(t:cancelled())
    end)
  end))

  it("does not reach into a shield inside the task; the task sees it "
     .. "after the shield", vasync(function()
    local log = S.recorder()
    loom.with_group(function(g)
      local t = g:spawn(function()
        loom.shield(function() loom.sleep(0.02); log("shielded sleep done") end)
        log("after shield")
        loom.checkpoint()
        log("not reached")
      end)
      loom.sleep(0.01)
      t:cancel()
      assert.equal("cancelled", t:wait())
    end)
    assert.same({ "shielded sleep done", "after shield" }, log.list)
  end))

  it("works outside any task (no effect on a finished task)", function()
    local t = loom.run(function() return loom.current_task() end)
    t:cancel()
    assert.equal("ok", t.status)
  end)
end)

describe("Task methods", function()
  it("reject a non-Task self, naming the argument", S.async(function()
    local t = loom.current_task()
    for _, name in ipairs { "join", "wait", "result", "cancel", "done",
                            "cancelled" } do
      for _, bad in ipairs { 3, "x", {} } do
        local e = S.catch(function() return t[name](bad) end)
        assert.matches("bad argument #1 to '[^']*' %(loom.Task "
                       .. "expected", tostring(e))
      end
    end
  end))
end)

describe("Task:done and Task:cancelled", function()
  it("are booleans following the task's life", vasync(function()
    loom.with_group(function(g)
      local a = g:spawn(function() loom.sleep(0.01) end)
      local b = g:spawn(loom.sleep, 1)
      assert.same({ false, false }, { a:done(), a:cancelled() })
      loom.sleep(0)
      assert.same({ false, false }, { a:done(), a:cancelled() })
      b:cancel()
      a:join()
      b:wait()
      assert.same({ true, false }, { a:done(), a:cancelled() })
      assert.same({ true, true }, { b:done(), b:cancelled() })
    end)
  end))

  it("a failed task is done and not cancelled", S.async(function()
    local t
    pcall(loom.with_group, function(g) t = g:spawn(error, "x") end)
    assert.same({ true, false }, { t:done(), t:cancelled() })
  end))
end)

describe("Task.status", function()
  it("is 'running', then 'ok', 'error' or 'cancelled'", vasync(function()
    local ok_t, err_t, can_t
    pcall(loom.with_group, function(outer)
      outer:spawn(function()
        loom.with_group(function(g)
          ok_t = g:spawn(function() loom.sleep(0.01) end)
          can_t = g:spawn(loom.sleep, 1)
          assert.equal("running", ok_t.status)
          loom.sleep(0)
          assert.equal("running", ok_t.status)
          can_t:cancel()
        end)
      end)
      err_t = outer:spawn(function() loom.sleep(0.02); error("x") end)
    end)
    assert.equal("ok", ok_t.status)
    assert.equal("cancelled", can_t.status)
    assert.equal("error", err_t.status)
  end))

  it("a task ended by its group's cancellation is 'cancelled'",
    vasync(function()
      local t
      loom.with_group(function(g)
        t = g:spawn(loom.sleep, 1)
        loom.sleep(0)
        g:cancel()
      end)
      assert.equal("cancelled", t.status)
    end))
end)

describe("Task.name", function()
  it("defaults to task-N, distinct per task", S.async(function()
    local names = {}
    loom.with_group(function(g)
      for i = 1, 3 do names[i] = g:spawn(function() end).name end
    end)
    for i = 1, 3 do assert.matches("^task%-%d+$", names[i]) end
    assert.are_not.equal(names[1], names[2])
    assert.are_not.equal(names[2], names[3])
    assert.matches("^task%-%d+$", loom.current_task().name)
  end))

  it("is writable, also from the task itself", S.async(function()
    loom.with_group(function(g)
      local t = g:spawn(function() loom.current_task().name = "self-named" end)
      assert.equal("string", type(t.name))
      t.name = "worker"
      assert.equal("worker", t.name)
      loom.sleep(0)
      assert.equal("self-named", t.name)
    end)
  end))

  it("rejects a non-string", S.async(function()
    local t = loom.current_task()
    assert.has_error(function() t.name = {} end)
    assert.has_error(function() t.name = nil end)
    assert.matches("^task%-%d+$", t.name)
  end))

  it("is used in tracebacks and in TaskCancelled messages", vasync(function()
    local ok, eg = pcall(loom.with_group, function(g)
      local t = g:spawn(function() loom.sleep(0.01); error("x") end)
      t.name = "renamed-worker"
      local c = g:spawn(loom.sleep, 1)
      c.name = "victim"
      loom.sleep(0)
      c:cancel()
      assert.matches("victim", tostring(S.catch(c.join, c)), 1, true)
    end)
    assert.is_false(ok)
    assert.matches("renamed-worker", eg.tracebacks[1], 1, true)
    assert.matches("renamed-worker", tostring(eg), 1, true)
  end))
end)
