-- Cancel scopes, timeouts and shields (README, "Tasks, groups and
-- scopes"): loom.scope, timeout, timeout_at, move_on_after, move_on_at,
-- shield, the Scope fields and methods, and every "Precise rule"
-- (doc/SEMANTICS.md sections G-I, K).
local loom = require "loom"
local S = require "spec.support"

local vasync = S.vasync

local took = S.took

local function is_timeout(e) return loom.TimeoutError:is(e) end
local function cancelled(e) return loom.is_cancelled(e) end

-- The deadline-based wrappers, each as f(seconds_from_now, body).
local relative = {
  timeout = loom.timeout,
  timeout_at = function(d, body)
    return loom.timeout_at(loom.now() + d, body)
  end,
  move_on_after = loom.move_on_after,
  move_on_at = function(d, body)
    return loom.move_on_at(loom.now() + d, body)
  end,
}
local raising = { timeout = true, timeout_at = true }

describe("loom.scope", function()
  it("returns the body's results, nils included, and passes the scope",
    S.async(function()
      local r = table.pack(loom.scope(function(s)
        assert.equal("userdata", type(s))
        return 1, nil, 3, nil
      end))
      assert.same({ n = 4, 1, nil, 3, nil }, r)
    end))

  it("a new scope has no deadline, no shield and is not cancelled",
    S.async(function()
      loom.scope(function(s)
        assert.equal(math.huge, s.deadline)
        assert.is_false(s.shield)
        assert.is_false(s.cancel_called)
        assert.is_false(s.cancelled_caught)
        assert.is_false(s:expired())
      end)
    end))

  it("returns nothing when cancelled: the Cancelled stops there",
    S.async(function()
      local s0
      local r = table.pack(loom.scope(function(s)
        s0 = s
        s:cancel()
        loom.checkpoint()
        return "not reached"
      end))
      assert.equal(0, r.n)
      assert.is_true(s0.cancel_called)
      assert.is_true(s0.cancelled_caught)
      assert.is_false(s0:expired())
      loom.checkpoint()   -- the task is not cancelled any more
    end))

  it("lets other errors through unchanged", S.async(function()
    local E = {}
    assert.equal(E, S.catch(loom.scope, function() error(E) end))
    assert.equal(E, S.catch(loom.scope, function(s)
      s:cancel()
      error(E)
    end))
  end))

  it("rejects a non-callable body, naming the argument", S.async(function()
    for _, f in ipairs { loom.scope, loom.shield } do
      assert.matches("bad argument #1", tostring(S.catch(f, 3)))
      assert.matches("bad argument #1", tostring(S.catch(f)))
    end
    for name, f in pairs { timeout = loom.timeout,
                           move_on_after = loom.move_on_after,
                           timeout_at = loom.timeout_at,
                           move_on_at = loom.move_on_at } do
      assert.matches("bad argument #2 to '" .. name .. "'",
                     tostring(S.catch(f, 1, "x")))
      assert.matches("bad argument #1 to '" .. name .. "'",
                     tostring(S.catch(f, "1", print)))
      assert.matches("bad argument #1 to '" .. name .. "'",
                     tostring(S.catch(f, 0 / 0, print)))
    end
  end))

  it("raises 'nested coroutine' from a user coroutine inside a task",
    S.async(function()
      for _, f in ipairs {
        function() loom.scope(print) end,
        function() loom.timeout(1, print) end,
        function() loom.shield(print) end,
      } do
        local ok, e = coroutine.resume(coroutine.create(f))
        assert.is_false(ok)
        assert.matches("nested coroutine", tostring(e))
      end
    end))

  it("raises 'outside of a loom task' outside any task", function()
    assert.matches("outside of a loom task",
                   tostring(S.catch(loom.scope, print)))
    assert.matches("outside of a loom task",
                   tostring(S.catch(loom.timeout, 1, print)))
  end)
end)

describe("Scope:cancel", function()
  it("is idempotent (CS-01)", S.async(function()
    loom.scope(function(s)
      s:cancel()
      s:cancel()
      assert.is_true(s.cancel_called)
      loom.checkpoint()
    end)
  end))

  it("is level-triggered: every checkpoint inside raises (CS-02)",
    S.async(function()
      local n = 0
      loom.scope(function(s)
        s:cancel()
        for _ = 1, 3 do
          if cancelled(S.catch(loom.sleep, 0)) then n = n + 1 end
        end
      end)
      assert.equal(3, n)
    end))

  it("works from another task, waking the blocked task at once",
    vasync(function()
      local t0 = loom.now()
      loom.with_group(function(g)
        local s0
        g:spawn(function()
          loom.scope(function(s)
            s0 = s
            loom.sleep(10)
          end)
        end)
        loom.sleep(0.01)
        s0:cancel()
      end)
      took(t0, 0.01)
    end))

  it("before the first checkpoint, is honoured there (CS-03)",
    S.async(function()
      local reached = false
      loom.scope(function(s)
        s:cancel()
        reached = true
        loom.checkpoint()
        reached = "past"
      end)
      assert.is_true(reached)
    end))

  it("after the scope was left has no effect", S.async(function()
    local s0
    loom.scope(function(s) s0 = s end)
    s0:cancel()
    assert.is_false(s0.cancel_called)
    loom.checkpoint()
  end))

  it("affects nested scopes and groups, not the enclosing ones",
    vasync(function()
      local log = S.recorder()
      loom.scope(function(outer)
        loom.scope(function(s)
          loom.with_group(function(g)
            g:spawn(function()
              local ok = pcall(loom.sleep, 1)
              log(ok and "child slept" or "child cancelled")
            end)
            loom.sleep(0)
            s:cancel()
          end)
        end)
        assert.is_false(outer.cancel_called)
        loom.checkpoint()
        log("outer goes on")
      end)
      assert.same({ "child cancelled", "outer goes on" }, log.list)
    end))
end)

for name, wrap in pairs(relative) do
  describe("loom." .. name, function()
    it("returns the body's results when it finishes in time (TO-03)",
      vasync(function()
        local s0
        local r = table.pack(wrap(0.05, function(s)
          s0 = s
          loom.sleep(0.01)
          return 1, nil
        end))
        assert.same({ n = 2, 1, nil }, r)
        assert.is_false(s0:expired())
        assert.is_false(s0.cancel_called)
        assert.is_true(s0.deadline > loom.now())
      end))

    it("on expiry " .. (raising[name] and "raises a TimeoutError"
                        or "returns nothing") .. " after the deadline; "
       .. "inside, the body saw a plain Cancelled (TO-01)", vasync(function()
      local t0 = loom.now()
      local inside, s0
      local r = table.pack(pcall(wrap, 0.02, function(s)
        s0 = s
        local _, e = pcall(loom.sleep, 1)
        inside = e
        error(e, 0)
      end))
      took(t0, 0.02)
      assert.is_true(cancelled(inside))
      if raising[name] then
        assert.is_false(r[1])
        assert.is_true(is_timeout(r[2]))
        assert.is_false(cancelled(r[2]))
      else
        assert.same({ n = 1, true }, r)
      end
      assert.is_true(s0:expired())
      assert.is_true(s0.cancel_called)
      assert.is_true(s0.cancelled_caught)
      loom.checkpoint()   -- the task is not left cancelled (TO-07)
    end))

    it("an already expired deadline: the body runs until its first "
       .. "checkpoint (TO-05)", S.async(function()
      local log = S.recorder()
      local ok, e = pcall(wrap, 0, function()
        log("body")
        loom.sleep(0)
        log("not reached")
      end)
      assert.same({ "body" }, log.list)
      if raising[name] then
        assert.is_false(ok)
        assert.is_true(is_timeout(e))
      else
        assert.is_true(ok)
      end
    end))

    it("a body without checkpoints returns its results after the deadline "
       .. "passed (TO-22)", S.async(function()
      local s0
      local r = table.pack(wrap(0, function(s)
        s0 = s
        return "done"
      end))
      assert.same({ n = 1, "done" }, r)
      assert.is_false(s0.cancelled_caught)
    end))

    it("cancelled by s:cancel() (not its deadline) returns nothing",
      S.async(function()
        local s0
        local r = table.pack(wrap(10, function(s)
          s0 = s
          s:cancel()
          loom.checkpoint()
        end))
        assert.equal(0, r.n)
        assert.is_false(s0:expired())
        assert.is_true(s0.cancelled_caught)
      end))

    it("an error other than the cancellation propagates unchanged, also "
       .. "after the deadline fired (TO-08, TO-17)", vasync(function()
      local E = {}
      assert.equal(E, S.catch(wrap, 1, function() error(E) end))
      local s0
      assert.equal(E, S.catch(wrap, 0.01, function(s)
        s0 = s
        pcall(loom.sleep, 1)
        error(E)
      end))
      assert.is_true(s0:expired())
      assert.is_false(s0.cancelled_caught)
    end))
  end)
end

describe("loom.timeout", function()
  it("nil seconds means no deadline (TO-04)", vasync(function()
    local r = loom.timeout(nil, function(s)
      assert.equal(math.huge, s.deadline)
      loom.sleep(0.01)
      return "ok"
    end)
    assert.equal("ok", r)
  end))

  it("a negative timeout is already expired (TO-06)", S.async(function()
    assert.is_true(is_timeout(S.catch(loom.timeout, -5, loom.checkpoint)))
    assert.is_true(is_timeout(S.catch(loom.timeout_at, loom.now() - 5,
                                      loom.checkpoint)))
  end))

  it("sets the deadline to now + seconds", S.async(function()
    local t0 = loom.now()
    loom.timeout(5, function(s)
      assert.is_true(s.deadline >= t0 + 5)
      assert.is_true(s.deadline <= loom.now() + 5)
    end)
    local when = loom.now() + 7
    loom.timeout_at(when, function(s) assert.equal(when, s.deadline) end)
    loom.move_on_at(when, function(s) assert.equal(when, s.deadline) end)
  end))

  it("makes a new TimeoutError at each boundary; inner timeouts never "
     .. "see it", vasync(function()
    local seen_inner
    local e = S.catch(loom.timeout, 0.01, function()
      local e2 = S.catch(loom.timeout, 10, function() loom.sleep(1) end)
      seen_inner = e2
      error(e2, 0)
    end)
    assert.is_true(cancelled(seen_inner))
    assert.is_true(is_timeout(e))
  end))

  it("an outer explicit cancel wins over an inner timeout that expired "
     .. "too", vasync(function()
    local inner, outer
    local r = table.pack(loom.scope(function(o)
      outer = o
      loom.timeout(0.01, function(s)
        inner = s
        loom.shield(function() loom.sleep(0.02) end)
        o:cancel()
        loom.checkpoint()
      end)
      return "not reached"
    end))
    assert.equal(0, r.n)
    assert.is_true(inner:expired())
    assert.is_false(inner.cancelled_caught)
    assert.is_true(outer.cancelled_caught)
  end))

  it("an explicitly cancelled outer scope around an inner timeout that "
     .. "has not expired: no TimeoutError (TO-13)", vasync(function()
    local inner
    local r = table.pack(loom.scope(function(outer)
      loom.with_group(function(g)
        g:spawn(function() loom.sleep(0.01); outer:cancel() end)
        loom.timeout(1, function(s)
          inner = s
          loom.sleep(2)
        end)
      end)
    end))
    assert.equal(0, r.n)
    assert.is_false(inner.cancel_called)
    assert.is_false(inner.cancelled_caught)
  end))

  it("nested with the same deadline: only the outermost raises (TO-10)",
    vasync(function()
      local a, b
      local when = loom.now() + 0.01
      local e = S.catch(loom.timeout_at, when, function(sa)
        a = sa
        loom.timeout_at(when, function(sb)
          b = sb
          loom.sleep(1)
        end)
      end)
      assert.is_true(is_timeout(e))
      assert.is_true(a:expired() and b:expired())
      assert.is_true(a.cancelled_caught)
      assert.is_false(b.cancelled_caught)
    end))

  it("nested, outer expires first: Cancelled passes the inner timeout "
     .. "unchanged (TO-11)", vasync(function()
      local inner
      local e = S.catch(loom.timeout, 0.01, function()
        loom.timeout(1, function(s)
          inner = s
          loom.sleep(2)
        end)
      end)
      assert.is_true(is_timeout(e))
      assert.is_false(inner.cancel_called)
      assert.is_false(inner.cancelled_caught)
    end))

  it("nested, inner expires first: the inner raises, the outer still "
     .. "fires at its deadline (TO-12)", vasync(function()
    local t0 = loom.now()
    local inner_e
    local e = S.catch(loom.timeout, 0.03, function()
      inner_e = S.catch(loom.timeout, 0.01, function() loom.sleep(1) end)
      took(t0, 0.01)
      loom.sleep(1)
    end)
    assert.is_true(is_timeout(inner_e))
    assert.is_true(is_timeout(e))
    assert.are_not.equal(inner_e, e)
    took(t0, 0.03)
  end))

  it("around a group: one TimeoutError, not an aggregate; results of "
     .. "finished tasks stay available (TO-19, TO-20)", vasync(function()
    local t0 = loom.now()
    local tasks, log = {}, S.recorder()
    local e = S.catch(loom.timeout, 0.1, function(_s)
      loom.with_group(function(g)
        for i = 1, 6 do
          tasks[i] = g:spawn(function()
            local _ <close> = setmetatable({}, { __close = function(_, err)
              if err then log(i) end
            end })
            loom.sleep(0.03 * i)
            return i
          end)
        end
      end)
    end)
    assert.is_true(is_timeout(e))
    took(t0, 0.1)
    for i = 1, 3 do
      assert.equal(i, tasks[i]:result())
      assert.equal("ok", tasks[i].status)
    end
    for i = 4, 6 do
      assert.equal("cancelled", tasks[i].status)
      assert.is_true(loom.TaskCancelled:is(S.catch(tasks[i].result,
                                                   tasks[i])))
    end
    assert.same({ 4, 5, 6 }, log.list)
  end))

  it("an expired timeout around a group whose children never ran: one "
     .. "TimeoutError (TO-19)", S.async(function()
    local ran = 0
    local e = S.catch(loom.timeout, -1, function()
      loom.with_group(function(g)
        for _ = 1, 3 do
          g:spawn(function() ran = ran + 1; loom.sleep(10) end)
        end
      end)
    end)
    assert.is_true(is_timeout(e))
    assert.equal(3, ran)
  end))

  it("a child whose cleanup fails turns it into an ErrorGroup (TO-18)",
    vasync(function()
      local e = S.catch(loom.timeout, 0.01, function()
        loom.with_group(function(g)
          g:spawn(function()
            pcall(loom.sleep, 1)
            error("cleanup", 0)
          end)
        end)
      end)
      assert.is_true(loom.ErrorGroup:is(e))
      assert.same({ "cleanup" }, e.errors)
    end))

  it("inside a shield inside a cancelled scope still fires (TO-14)",
    vasync(function()
      local got
      loom.scope(function(outer)
        outer:cancel()
        loom.shield(function()
          got = S.catch(loom.timeout, 0.01, function() loom.sleep(1) end)
        end)
      end)
      assert.is_true(is_timeout(got))
    end))

  it("rejects NaN", S.async(function()
    assert.matches("bad argument #1",
                   tostring(S.catch(loom.timeout, 0 / 0, print)))
    assert.matches("bad argument #1",
                   tostring(S.catch(loom.move_on_at, 0 / 0, print)))
  end))
end)

describe("loom.shield", function()
  it("blocks the cancellation of enclosing scopes", vasync(function()
    local t0 = loom.now()
    loom.scope(function(s)
      s:cancel()
      loom.shield(function(sh)
        assert.is_true(sh.shield)
        loom.sleep(0.01)
        loom.checkpoint()
      end)
      assert.is_true(cancelled(S.catch(loom.checkpoint)))
    end)
    took(t0, 0.01)
  end))

  it("its own cancel still works, and it catches it", S.async(function()
    local after = false
    loom.scope(function(outer)
      local r = table.pack(loom.shield(function(sh)
        sh:cancel()
        loom.checkpoint()
        return "not reached"
      end))
      assert.equal(0, r.n)
      after = true
      assert.is_false(outer.cancel_called)
    end)
    assert.is_true(after)
  end))

  it("scopes nested inside it still work (CS-09)", vasync(function()
    loom.scope(function(outer)
      outer:cancel()
      loom.shield(function()
        local r = table.pack(loom.scope(function(inner)
          inner:cancel()
          loom.checkpoint()
        end))
        assert.equal(0, r.n)
        assert.is_nil(loom.move_on_after(0.01, function() loom.sleep(1) end))
      end)
    end)
  end))

  it("s.shield can be switched on and off; it takes effect at the next "
     .. "checkpoint (CS-09)", S.async(function()
    loom.scope(function(outer)
      outer:cancel()
      loom.scope(function(s)
        assert.is_true(cancelled(S.catch(loom.checkpoint)))
        s.shield = true
        loom.checkpoint()
        s.shield = false
        assert.is_true(cancelled(S.catch(loom.checkpoint)))
      end)
    end)
  end))

  it("catches the cancellation of its own deadline inside a cancelled "
     .. "scope", vasync(function()
    local after = false
    loom.scope(function(outer)
      outer:cancel()
      local r = table.pack(loom.shield(function(sh)
        sh.deadline = loom.now() + 0.01
        loom.sleep(1)
        return "not reached"
      end))
      assert.equal(0, r.n)
      after = true
    end)
    assert.is_true(after)
  end))

  it("rejects a non-boolean shield value", S.async(function()
    loom.scope(function(s)
      assert.matches("boolean expected",
                     tostring(S.catch(function() s.shield = 1 end)))
      assert.is_false(s.shield)
    end)
  end))

  it("turning the shield off while an enclosing scope is cancelled wakes "
     .. "the blocked tasks with Cancelled at once (CS-09)", vasync(function()
    local t0 = loom.now()
    local woke
    loom.scope(function(outer)
      loom.with_group(function(g)
        local sh0
        g:spawn(function()
          loom.shield(function(sh)
            sh0 = sh
            local _, e = pcall(loom.sleep, 1)
            woke = e
            error(e, 0)
          end)
        end)
        loom.sleep(0)
        outer:cancel()
        loom.shield(function() loom.sleep(0.01) end)
        assert.is_nil(woke)
        sh0.shield = false
      end)
    end)
    assert.is_true(cancelled(woke))
    took(t0, 0.01)
  end))

  it("turning the shield on stops a cancellation that was not delivered "
     .. "yet", S.async(function()
    loom.scope(function(outer)
      loom.scope(function(s)
        outer:cancel()
        s.shield = true
        loom.checkpoint()
        loom.sleep(0.001)
      end)
      assert.is_true(cancelled(S.catch(loom.checkpoint)))
    end)
  end))
end)

describe("Scope.deadline", function()
  it("is math.huge without a deadline", S.async(function()
    loom.scope(function(s) assert.equal(math.huge, s.deadline) end)
    loom.move_on_after(nil, function(s) assert.equal(math.huge, s.deadline) end)
  end))

  it("moving it later postpones a scope that has not fired (TO-15)",
    vasync(function()
      local t0 = loom.now()
      local r = loom.timeout(0.01, function(s)
        s.deadline = loom.now() + 0.03
        loom.sleep(0.02)
        return "finished"
      end)
      assert.equal("finished", r)
      took(t0, 0.02)
    end))

  it("moving it into the past cancels at once, also a blocked task",
    vasync(function()
      local s0
      loom.with_group(function(g)
        local t = g:spawn(function()
          return loom.move_on_after(10, function(s)
            s0 = s
            loom.sleep(10)
            return "not reached"
          end)
        end)
        loom.sleep(0.01)
        local t0 = loom.now()
        s0.deadline = loom.now() - 1
        assert.is_true(s0.cancel_called)
        assert.is_nil(t:join())
        took(t0, 0)
      end)
      assert.is_true(s0:expired())
    end))

  it("moving it into the past inside the scope raises at the next "
     .. "checkpoint", S.async(function()
    local e = S.catch(loom.timeout, 10, function(s)
      s.deadline = loom.now()
      loom.checkpoint()
    end)
    assert.is_true(is_timeout(e))
  end))

  it("once fired, changing it has no effect and no error; the scope stays "
     .. "cancelled", vasync(function()
    local s0
    loom.move_on_after(0.01, function(s)
      s0 = s
      pcall(loom.sleep, 1)
      local d = s.deadline
      s.deadline = loom.now() + 100
      assert.equal(d, s.deadline)
      s:reschedule(nil)
      assert.equal(d, s.deadline)
      assert.is_true(s.cancel_called)
      assert.is_true(cancelled(S.catch(loom.checkpoint)))
    end)
    s0.deadline = loom.now() + 5
    assert.is_true(s0.cancel_called)
  end))

  it("an explicit cancel sticks: a later deadline change does not "
     .. "uncancel it", S.async(function()
    loom.scope(function(s)
      s:cancel()
      s.deadline = loom.now() + 100
      assert.is_true(s.cancel_called)
      assert.is_true(cancelled(S.catch(loom.checkpoint)))
      assert.is_false(s:expired())
    end)
  end))

  it("rejects a non-number", S.async(function()
    loom.scope(function(s)
      assert.matches("number expected",
                     tostring(S.catch(function() s.deadline = "soon" end)))
      assert.matches("number expected",
                     tostring(S.catch(function() s.deadline = {} end)))
      assert.has_error(function() s.deadline = 0 / 0 end)
      assert.equal(math.huge, s.deadline)
    end)
  end))
end)

describe("Scope:reschedule", function()
  it("is the same as assigning the deadline", vasync(function()
    local when
    local e = S.catch(loom.timeout, 10, function(s)
      when = loom.now() + 0.01
      s:reschedule(when)
      assert.equal(when, s.deadline)
      loom.sleep(1)
    end)
    assert.is_true(is_timeout(e))
  end))

  it("nil means no deadline (TO-15)", vasync(function()
    local r = loom.timeout(0.01, function(s)
      s:reschedule(nil)
      assert.equal(math.huge, s.deadline)
      loom.sleep(0.02)
      return "no timeout"
    end)
    assert.equal("no timeout", r)
  end))

  it("into the past cancels at once", S.async(function()
    local r = table.pack(loom.move_on_after(10, function(s)
      s:reschedule(loom.now() - 1)
      assert.is_true(s.cancel_called)
      loom.checkpoint()
    end))
    assert.equal(0, r.n)
  end))

  it("rejects a non-number and NaN, naming the argument", S.async(function()
    loom.scope(function(s)
      assert.matches("bad argument #1 to 'reschedule'",
                     tostring(S.catch(function() s:reschedule("x") end)))
      assert.matches("bad argument #1 to 'reschedule'",
                     tostring(S.catch(function() s:reschedule(0 / 0) end)))
      assert.matches("bad argument #1 to 'reschedule'",
                     tostring(S.catch(function() s.reschedule(3) end)))
    end)
  end))

  it("after the scope was left has no effect", S.async(function()
    local s0
    loom.scope(function(s) s0 = s end)
    s0:reschedule(loom.now() - 1)
    assert.is_false(s0.cancel_called)
  end))
end)

describe("Scope methods", function()
  it("reject a non-Scope self, naming the argument", S.async(function()
    loom.scope(function(s)
      for _, name in ipairs { "cancel", "reschedule", "expired" } do
        for _, bad in ipairs { 3, "x", {} } do
          local e = S.catch(function() return s[name](bad) end)
          assert.matches("bad argument #1 to '[^']*' %(loom.Scope "
                         .. "expected", tostring(e))
        end
      end
    end)
  end))
end)

describe("Scope.cancel_called, cancelled_caught and expired", function()
  it("requested without a checkpoint: called but not caught (BL-09, "
     .. "CS-12)", S.async(function()
    local s0
    loom.scope(function(s) s0 = s; s:cancel() end)
    assert.is_true(s0.cancel_called)
    assert.is_false(s0.cancelled_caught)
  end))

  it("a cancelled scope left with only shielded checkpoints is not caught "
     .. "(CS-12)", S.async(function()
    local s0
    loom.scope(function(s)
      s0 = s
      s:cancel()
      loom.shield(function() loom.checkpoint() end)
    end)
    assert.is_false(s0.cancelled_caught)
  end))

  it("expired() is true only when the deadline cancelled it",
    S.async(function()
      local a, b
      loom.move_on_after(0, function(s) a = s; loom.checkpoint() end)
      loom.move_on_after(10, function(s)
        b = s
        s:cancel()
        loom.checkpoint()
      end)
      assert.is_true(a:expired())
      assert.is_false(b:expired())
      assert.is_true(a.cancelled_caught and b.cancelled_caught)
    end))

  it("a deadline scope that was cancelled explicitly first is not expired "
     .. "when its deadline passes later (CS-13)", vasync(function()
    local s0
    loom.move_on_after(0.01, function(s)
      s0 = s
      s:cancel()
      loom.shield(function() loom.sleep(0.02) end)
    end)
    assert.is_false(s0:expired())
  end))

  it("fields are read-only except deadline and shield", S.async(function()
    loom.scope(function(s)
      assert.has_error(function() s.cancel_called = true end)
      assert.has_error(function() s.cancelled_caught = true end)
      assert.is_false(s.cancel_called)
    end)
  end))
end)

describe("precise rule: which scope catches", function()
  it("two cancelled nested scopes: the outer one catches (CS-06)",
    S.async(function()
      local inner, outer
      loom.scope(function(o)
        outer = o
        loom.scope(function(i)
          inner = i
          i:cancel()
          o:cancel()
          loom.checkpoint()
        end)
        error("not reached")
      end)
      assert.is_false(inner.cancelled_caught)
      assert.is_true(outer.cancelled_caught)
    end))

  it("the inner fires first and the outer is cancelled while it "
     .. "propagates: the outer catches (CS-06)", S.async(function()
    local inner, outer, between = nil, nil, false
    loom.scope(function(o)
      outer = o
      loom.scope(function(i)
        inner = i
        i:cancel()
        local _ <close> = setmetatable({}, { __close = function()
          o:cancel()
        end })
        loom.checkpoint()
      end)
      between = true
    end)
    assert.is_false(between)
    assert.is_false(inner.cancelled_caught)
    assert.is_true(outer.cancelled_caught)
  end))

  it("an inner shielded scope cancelled by itself catches its own, even "
     .. "if the outer is cancelled meanwhile (CS-07)", S.async(function()
    local inner, outer, between = nil, nil, false
    loom.scope(function(o)
      outer = o
      loom.shield(function(i)
        inner = i
        i:cancel()
        local _ <close> = setmetatable({}, { __close = function()
          o:cancel()
        end })
        loom.checkpoint()
      end)
      between = true
    end)
    assert.is_true(between)
    assert.is_true(inner.cancelled_caught)
    assert.is_false(outer.cancelled_caught)
  end))

  it("a scope never cancelled does not swallow Cancelled, even if its "
     .. "shield is switched on while it passes (CS-08)", S.async(function()
    local mid, outer
    loom.scope(function(o)
      outer = o
      loom.scope(function(m)
        mid = m
        o:cancel()
        local _ <close> = setmetatable({}, { __close = function()
          m.shield = true
        end })
        loom.checkpoint()
      end)
      error("not reached: the middle scope swallowed the Cancelled")
    end)
    assert.is_false(mid.cancelled_caught)
    assert.is_true(outer.cancelled_caught)
  end))

  it("the outermost of two expired timeouts raises", vasync(function()
    local a, b
    local e = S.catch(loom.timeout, 0.01, function(sa)
      a = sa
      loom.timeout(0.005, function(sb)
        b = sb
        loom.shield(function() loom.sleep(0.02) end)
        loom.checkpoint()
      end)
    end)
    assert.is_true(is_timeout(e))
    assert.is_true(a.cancelled_caught)
    assert.is_false(b.cancelled_caught)
  end))
end)

describe("precise rule: deadlines are checked at every checkpoint", function()
  it("a passed deadline counts even if its timer has not fired",
    S.async(function()
      for _, f in ipairs {
        loom.checkpoint,
        function() loom.sleep(0) end,
        function() loom.sleep(10) end,
        function() loom.sleep_until(0) end,
      } do
        local e = S.catch(loom.timeout, 0.005, function()
          local t0 = loom.now()
          repeat until loom.now() - t0 > 0.01
          f()
        end)
        assert.is_true(is_timeout(e))
      end
    end))

  it("also at the exit of an inner scope whose body returned",
    S.async(function()
      local s0
      local e = S.catch(loom.timeout, 0.005, function(s)
        s0 = s
        loom.scope(function()
          local t0 = loom.now()
          repeat until loom.now() - t0 > 0.01
        end)
        loom.checkpoint()
      end)
      assert.is_true(is_timeout(e))
      assert.is_true(s0:expired())
    end))
end)

describe("precise rule: changes take effect at once", function()
  it("cancelling a scope wakes its blocked tasks, wherever they wait",
    vasync(function()
      local woke = {}
      local t0 = loom.now()
      loom.scope(function(s)
        loom.with_group(function(g)
          local long = g:spawn(loom.sleep, 10)
          g:spawn(function()
            local _, e = pcall(loom.sleep, 10)
            woke[#woke + 1] = cancelled(e)
          end)
          g:spawn(function()
            local _, e = pcall(long.join, long)
            woke[#woke + 1] = cancelled(e)
          end)
          g:spawn(function()
            local _, e = pcall(loom.sleep_until, math.huge)
            woke[#woke + 1] = cancelled(e)
          end)
          loom.sleep(0.01)
          s:cancel()
        end)
      end)
      took(t0, 0.01)
      assert.same({ true, true, true }, woke)
    end))
end)

describe("precise rule: a scope catches only a Cancelled that reaches its "
         .. "boundary", function()
  it("the body swallowed it and reached no checkpoint after: results, "
     .. "cancelled_caught false, no TimeoutError (SW-01)", vasync(function()
    for _, wrap in pairs(relative) do
      local s0
      local r = table.pack(wrap(0.01, function(s)
        s0 = s
        local _, e = pcall(loom.sleep, 1)
        assert(cancelled(e))
        return "swallowed", nil
      end))
      assert.same({ n = 2, "swallowed", nil }, r)
      assert.is_true(s0.cancel_called)
      assert.is_false(s0.cancelled_caught)
    end
  end))

  it("the body swallowed it and reached a checkpoint: raised again",
    vasync(function()
      local e = S.catch(loom.timeout, 0.01, function()
        pcall(loom.sleep, 1)
        loom.sleep(1)
      end)
      assert.is_true(is_timeout(e))
    end))
end)

describe("precise rule: sleep(0), checkpoint() and every blocking call are "
         .. "cancellation points", function()
  it("also when they could complete at once", S.async(function()
    loom.with_group(function(g)
      local done = g:spawn(function() return 1 end)
      loom.sleep(0)
      loom.scope(function(s)
        s:cancel()
        for name, f in pairs {
          checkpoint = loom.checkpoint,
          sleep0 = function() loom.sleep(0) end,
          sleep_neg = function() loom.sleep(-1) end,
          sleep_until = function() loom.sleep_until(0) end,
          join = function() done:join() end,
          wait = function() done:wait() end,
          start = function() g:start(function(st) st() end) end,
        } do
          assert.is_true(cancelled(S.catch(f)), name)
        end
      end)
    end)
  end))

  it("sleep(NaN) is an argument error, not a checkpoint", S.async(function()
    loom.scope(function(s)
      s:cancel()
      local e = S.catch(loom.sleep, 0 / 0)
      assert.is_false(cancelled(e))
      assert.matches("bad argument", tostring(e))
    end)
  end))
end)

describe("precise rule: a task that catches Cancelled and returns",
         function()
  it("ends 'ok' with its results", vasync(function()
    loom.move_on_after(0.01, function()
      loom.with_group(function(g)
        local t = g:spawn(function()
          pcall(loom.sleep, 1)
          return "kept", nil
        end)
        local st = loom.shield(function() return table.pack(t:wait()) end)
        assert.same({ n = 3, "ok", "kept", nil }, st)
      end)
    end)
  end))
end)

describe("precise rule: a group ended by an enclosing cancellation",
         function()
  it("re-raises it once every task finished, also when the body had "
     .. "returned", vasync(function()
    local log = S.recorder()
    local s0
    loom.scope(function(s)
      s0 = s
      loom.with_group(function(g)
        g:spawn(function()
          local _, e = pcall(loom.sleep, 1)
          loom.shield(function() loom.sleep(0.01) end)
          log("child finished")
          error(e, 0)
        end)
        g:spawn(function() loom.sleep(0.005); s:cancel() end)
      end)
      log("after group: not reached")
    end)
    assert.same({ "child finished" }, log.list)
    assert.is_true(s0.cancelled_caught)
  end))
end)

describe("cleanup after a cancellation (BL-05, BL-06, BL-07)", function()
  it("cleanup that waits inside the cancelled scope is cancelled again; a "
     .. "fresh shield lets it wait", vasync(function()
    local log = S.recorder()
    loom.move_on_after(0.01, function()
      local ok = pcall(loom.sleep, 1)
      log(ok and "slept" or "cancelled")
      log(cancelled(S.catch(loom.sleep, 0.01)) and "cancelled again" or "x")
      loom.shield(function() loom.sleep(0.01) end)
      log("shielded cleanup done")
      log(cancelled(S.catch(loom.checkpoint)) and "visible again" or "lost")
    end)
    assert.same({ "cancelled", "cancelled again", "shielded cleanup done",
                  "visible again" }, log.list)
  end))

  it("every cancelled child runs its cleanup before with_group returns",
    vasync(function()
      local n = 0
      loom.with_group(function(g)
        for _ = 1, 5 do
          g:spawn(function()
            local _ <close> = setmetatable({}, { __close = function()
              loom.shield(function() loom.sleep(0.001) end)
              n = n + 1
            end })
            loom.sleep(1)
          end)
        end
        loom.sleep(0)
        g:cancel()
      end)
      assert.equal(5, n)
    end))
end)

describe("deep nesting and no busy loop (CS-14)", function()
  it("5000 nested scopes in one task are cancelled without a stack "
     .. "overflow", S.async(function()
    local core = require "loom.core"
    local N = 5000
    local scopes = {}
    loom.with_group(function(g)
      local blocked = g:spawn(function()
        for i = 1, N do scopes[i] = core.scope_open(nil, false, false) end
        local ok, e = pcall(loom.sleep, 10)
        assert(not ok and cancelled(e), tostring(e))
        local caught_by
        for i = N, 1, -1 do
          local r = table.pack(pcall(core.scope_exit, scopes[i], false, e))
          if r[1] then caught_by = i; break end
        end
        return caught_by
      end)
      loom.sleep(0)
      scopes[1]:cancel()
      assert.equal(1, blocked:join())
    end)
    assert.is_true(scopes[1].cancelled_caught)
    assert.is_false(scopes[N].cancelled_caught)
  end))

  it("a chain of 5000 nested groups across tasks is cancelled from the "
     .. "top", S.async(function()
    local N, finished = 5000, 0
    local depth = 0
    local r = table.pack(loom.scope(function(s)
      local function level(i)
        depth = math.max(depth, i)
        loom.with_group(function(g)
          if i < N then g:spawn(level, i + 1) else loom.sleep(10) end
        end)
        finished = finished + 1
      end
      loom.with_group(function(g)
        g:spawn(level, 1)
        while depth < N do loom.sleep(0) end
        s:cancel()
      end)
    end))
    assert.equal(0, r.n)
    assert.equal(N, depth)
    assert.equal(0, finished)
  end))

  it("many deadline changes do not bloat the timer heap", S.async(function()
    local testing = require "loom.testing"
    local base = testing.stats().timers
    loom.scope(function(s)
      for i = 1, 10000 do s.deadline = loom.now() + 100 + i end
      assert.equal(base + 1, testing.stats().timers)
    end)
    assert.equal(base, testing.stats().timers)
  end))

  it("a shielded child sleeping inside a cancelled group uses no CPU "
     .. "(real clock)", S.async(function()
    local c0, t0 = os.clock(), loom.now()
    loom.with_group(function(g)
      g:spawn(function()
        loom.shield(function() loom.sleep(0.3) end)
      end)
      g:spawn(loom.sleep, 10)
      loom.sleep(0)
      g:cancel()
    end)
    took(t0, 0.3)
    local cpu = os.clock() - c0
    assert.is_true(cpu < 0.05, ("used %.3f s of CPU in 0.3 s"):format(cpu))
  end))

  it("a blocked task in a cancelled scope behind a shield does not spin",
    S.async(function()
      local c0 = os.clock()
      loom.scope(function(s)
        s:cancel()
        loom.with_group(function(g)
          g:spawn(function() loom.shield(function() loom.sleep(0.2) end) end)
          g:spawn(function() loom.shield(function() loom.sleep(0.2) end) end)
        end)
      end)
      local cpu = os.clock() - c0
      assert.is_true(cpu < 0.05, ("used %.3f s of CPU"):format(cpu))
    end))
end)
