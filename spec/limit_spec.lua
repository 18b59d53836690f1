local loom = require "loom"
local S = require "spec.support"

-- Tests run on the virtual clock (sleeps take no real time); their
-- timing assertions also hold on the real clock (T = S.async).
local T = S.vasync

-- Run a group with 'limit' whose children sleep at random (some fail);
-- returns the peak number of live children (counted from spawn until
-- they finish) and the error of with_group, if any.
local function run_limited(limit, nchildren, fail_every, seed)
  math.randomseed(seed)
  local live, peak, running, peak_running = 0, 0, 0, 0
  local ok, err = pcall(loom.with_group, { limit = limit }, function(g)
    for i = 1, nchildren do
      local d = math.random() * 0.003
      g:spawn(function()
        running = running + 1
        peak_running = math.max(peak_running, running)
        local _ <close> = setmetatable({}, { __close = function()
          running = running - 1
          live = live - 1
        end })
        loom.sleep(d)
        if fail_every and i % fail_every == 0 then
          error("child " .. i .. " failed")
        end
      end)
      live = live + 1
      peak = math.max(peak, live)
    end
  end)
  assert.equal(0, running)
  assert.is_true(peak_running <= peak)
  return peak, ok, err
end

describe("with_group { limit = n }", function()
  it("never runs more than n children at once under random sleeps",
    T(function()
      for _, n in ipairs { 1, 3, 8 } do
        local peak, ok = run_limited(n, 40, nil, n)
        assert.is_true(ok)
        assert.equal(n, peak)
      end
    end))

  it("never runs more than n children at once when children fail",
    T(function()
      for _, n in ipairs { 2, 5 } do
        local peak, ok, err = run_limited(n, 40, 7, 100 + n)
        assert.is_false(ok)
        assert.is_true(loom.ErrorGroup:is(err))
        assert.matches("child 7 failed", tostring(err.errors[1]))
        assert.is_true(peak <= n)
      end
    end))

  it("a spawn waits until a child finishes when n are live", T(function()
    local t0, waited = loom.now(), nil
    loom.with_group({ limit = 2 }, function(g)
      g:spawn(loom.sleep, 0.03)
      g:spawn(loom.sleep, 0.01)
      local t1 = loom.now()
      g:spawn(function() end)
      waited = loom.now() - t1
    end)
    assert.is_true(waited >= 0.01 - 1e-6, "waited " .. waited)
    assert.is_true(waited < 0.025 + 0.1)
    assert.is_true(loom.now() - t0 >= 0.03 - 1e-6)
  end))

  it("spawners waiting for room are served in FIFO order", T(function()
    local rec = S.recorder()
    loom.with_group({ limit = 1 }, function(g)
      g:spawn(loom.sleep, 0.01)
      loom.with_group(function(spawners)
        for i = 1, 3 do
          spawners:spawn(function() g:spawn(rec, i) end)
          loom.sleep(0)
        end
      end)
    end)
    assert.same({1, 2, 3}, rec.list)
  end))

  it("a child counts from its spawn, before it first runs", T(function()
    local rec = S.recorder()
    loom.with_group({ limit = 1 }, function(g)
      g:spawn(rec, "first child ran")
      rec("first spawned")
      g:spawn(rec, "second child ran")
      rec("second spawned")
    end)
    assert.same({"first spawned", "first child ran", "second spawned",
                 "second child ran"}, rec.list)
  end))

  it("spawn with room is not a checkpoint: it neither yields nor raises "
     .. "in a cancelled scope", T(function()
      local rec, t = S.recorder(), nil
      loom.scope(function(s)
        loom.with_group({ limit = 2 }, function(g)
          s:cancel()
          t = g:spawn(function() rec("child ran"); loom.sleep(0) end)
          rec("spawn returned")
        end)
      end)
      assert.same({"spawn returned", "child ran"}, rec.list)
      assert.is_true(t:cancelled())
    end))

  it("spawn that has to wait is a checkpoint: it raises Cancelled in a "
     .. "cancelled scope and creates no task", T(function()
      local ran, s_caught = false, nil
      loom.scope(function(s)
        loom.with_group({ limit = 1 }, function(g)
          g:spawn(function() loom.sleep(0.01) end)
          s:cancel()
          g:spawn(function() ran = true end)
          error("not reached")
        end)
        s_caught = s
      end)
      assert.is_nil(s_caught)
      assert.is_false(ran)
    end))

  it("spawn waiting for room is cancelled by a timeout", T(function()
    local ran = false
    local e = S.catch(loom.timeout, 0.01, function()
      loom.with_group({ limit = 1 }, function(g)
        g:spawn(loom.sleep, 10)
        g:spawn(function() ran = true end)
      end)
    end)
    assert.is_true(loom.TimeoutError:is(e))
    assert.is_false(ran)
  end))

  it("rejects a limit that is not a positive integer", T(function()
    for _, bad in ipairs { 0, -1, 1.5, "2", true } do
      assert.matches("limit", tostring(S.catch(loom.with_group,
                                               { limit = bad },
                                               function() end)))
    end
  end))
end)

describe("with_group { limit = n } and g:start", function()
  it("start waits for room, and started children count toward the "
     .. "limit", T(function()
      local rec = S.recorder()
      loom.with_group({ limit = 2 }, function(g)
        local a = g:start(function(started)
          started("a"); loom.sleep(0.02); rec("a done")
        end)
        local b = g:start(function(started)
          started("b"); loom.sleep(0.01); rec("b done")
        end)
        rec(a .. b .. " started")
        local c = g:start(function(started) started("c") end)
        rec(c .. " started")
      end)
      assert.same({"ab started", "b done", "c started", "a done"}, rec.list)
    end))

  it("spawn waits while started children fill the group", T(function()
    local t0, waited = nil, nil
    loom.with_group({ limit = 1 }, function(g)
      g:start(function(started) started(); loom.sleep(0.02) end)
      t0 = loom.now()
      g:spawn(function() end)
      waited = loom.now() - t0
    end)
    assert.is_true(waited >= 0.02 - 1e-6, "waited " .. waited)
  end))

  it("start is a checkpoint even with room", T(function()
    local ran = false
    loom.scope(function(s)
      loom.with_group({ limit = 3 }, function(g)
        s:cancel()
        g:start(function(started) ran = true; started() end)
      end)
    end)
    assert.is_false(ran)
  end))

  it("start waiting for room is cancelled without running fn",
    T(function()
      local ran = false
      assert.is_nil(loom.move_on_after(0.01, function()
        loom.with_group({ limit = 1 }, function(g)
          g:spawn(loom.sleep, 10)
          g:start(function(started) ran = true; started() end)
          return "not reached"
        end)
      end))
      assert.is_false(ran)
    end))

  it("never exceeds the limit with a mix of start and spawn", T(function()
    math.randomseed(7)
    local live, peak = 0, 0
    local function child(started)
      live = live + 1
      peak = math.max(peak, live)
      if started then started() end
      loom.sleep(math.random() * 0.002)
      live = live - 1
    end
    loom.with_group({ limit = 3 }, function(g)
      for i = 1, 30 do
        if i % 3 == 0 then g:start(child) else g:spawn(child) end
      end
    end)
    assert.equal(3, peak)
  end))
end)

describe("virtual clock (regression found while writing these specs)",
  function()
    -- testing.run with a task sleeping while another task is ready: on
    -- libuv 1.44, re-arming the 0 ms uv timer from on_timer made
    -- uv__run_timers run it again at once, forever (100 % CPU). Run in a
    -- child process with a 1 s limit so that a regression fails the
    -- suite instead of hanging it.
    it("a sleep while another task is ready does not spin", function()
      local build = os.getenv("LOOM_BUILD") or "build"
      local script = table.concat({
        "package.path='./lua/?.lua;./lua/?/init.lua;'..package.path",
        "package.cpath='./" .. build .. "/?.so;'..package.cpath",
        "local loom=require'loom'",
        "require'loom.testing'.run(function()",
        "  loom.with_group(function(g)",
        "    g:spawn(loom.sleep, 2)",
        "    loom.sleep(1)",
        "  end)",
        "end)",
        "print('finished')",
      }, " ")
      local p = io.popen("timeout 1 lua5.4 -e \"" .. script
                         .. "\" 2>&1; echo \"rc=$?\"")
      local out = p:read("a")
      p:close()
      assert.matches("finished", out)
      assert.matches("rc=0", out)
    end)
  end)
