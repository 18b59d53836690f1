-- loom.testing: the virtual clock (testing.run), stats and the leak check.
-- The specs that could hang the process (a busy loop inside libuv) run in
-- a child process under `timeout`.
local loom = require "loom"
local testing = require "loom.testing"
local S = require "spec.support"

local run_lua = S.run_lua

-- Does the virtual clock survive a task being ready while deadlines are
-- pending? (It spins forever inside libuv 1.44's timer loop otherwise.)
-- Probed once per process, in a child process.
local function virtual_clock_works()
  local reg, key = debug.getregistry(), "loom spec: virtual clock works"
  if reg[key] == nil then
    local status = run_lua([[
      local loom = require "loom"
      require("loom.testing").run(function()
        loom.with_group(function(g)
          g:spawn(loom.sleep, 1)
          g:spawn(loom.sleep, 2)
          loom.timeout(3, loom.checkpoint)
        end)
      end)
    ]], 3)
    reg[key] = status == 0
  end
  return reg[key]
end

-- S.vasync, failing at once instead of hanging when the clock is broken.
local function vasync(fn)
  local body = S.vasync(fn)
  return function()
    assert(virtual_clock_works(), "the virtual clock hangs as soon as a "
           .. "task is ready while a deadline is pending (see the spec "
           .. "'keeps running when a task is ready ...')")
    return body()
  end
end

describe("loom.testing.run", function()
  it("returns the results of fn, nils included, and passes arguments",
    function()
      local r = table.pack(testing.run(function(a, b) return a, nil, b end,
                                       1, 2))
      assert.same({ n = 3, 1, nil, 2 }, r)
      testing.assert_clean()
    end)

  it("raises fn's error value unchanged", function()
    local E = {}
    local ok, e = pcall(testing.run, function() loom.sleep(1); error(E) end)
    assert.is_false(ok)
    assert.equal(E, e)
    testing.assert_clean()
  end)

  it("makes sleeps take no real time while loom.now() advances exactly",
    function()
      local real0 = os.time()
      local dt = testing.run(function()
        local t0 = loom.now()
        loom.sleep(3600)
        return loom.now() - t0
      end)
      assert.is_true(math.abs(dt - 3600) < 1e-6, dt)
      assert.is_true(os.time() - real0 <= 2)
    end)

  it("jumps to the next deadline when every task is blocked, in deadline "
     .. "order", vasync(function()
    local order, t0 = {}, loom.now()
    loom.with_group(function(g)
      for _, d in ipairs { 30, 10, 20 } do
        g:spawn(function()
          loom.sleep(d)
          order[#order + 1] = { d, math.floor(loom.now() - t0 + 0.5) }
        end)
      end
    end)
    assert.same({ { 10, 10 }, { 20, 20 }, { 30, 30 } }, order)
    assert.is_true(math.abs(loom.now() - t0 - 30) < 1e-6)
  end))

  it("fires a timeout's deadline on the virtual clock", S.vasync(function()
    local t0 = loom.now()
    local e = S.catch(loom.timeout, 60, function() loom.sleep(3600) end)
    assert.is_true(loom.TimeoutError:is(e))
    assert.is_true(math.abs(loom.now() - t0 - 60) < 1e-6)
  end))

  it("switches the real clock back on afterwards", function()
    testing.run(function() loom.sleep(100) end)
    local t0 = os.clock()
    local a = loom.now()
    local b
    repeat b = loom.now() until b > a or os.clock() - t0 > 1
    assert.is_true(b > a, "loom.now() does not move after testing.run")
  end)

  it("keeps running when a task is ready while a deadline is pending "
     .. "(no busy loop in the timer callback)", function()
    -- A checkpoint inside a timeout, or sleep(0) beside a sleeping task,
    -- leaves a task ready while a deadline is queued.
    local status, out = run_lua([[
      local loom = require "loom"
      local testing = require "loom.testing"
      testing.run(function()
        loom.timeout(1, function() loom.checkpoint(); loom.checkpoint() end)
        loom.with_group(function(g)
          g:spawn(loom.sleep, 1)
          for _ = 1, 3 do loom.sleep(0) end
        end)
      end)
      print("finished")
    ]], 3)
    assert.equal(0, status, out)
    assert.matches("finished", out)
  end)

  it("refuses to switch clocks while tasks exist", S.async(function()
    local e = S.catch(testing.run, function() end)
    assert.matches("clock", tostring(e))
  end))
end)

describe("loom.testing.stats", function()
  it("counts live tasks and queued timers", S.async(function()
    local base = testing.stats()
    assert.equal(1, base.tasks)
    loom.with_group(function(g)
      g:spawn(loom.sleep, 0.01)
      g:spawn(loom.sleep, 0.01)
      loom.sleep(0)
      local s = testing.stats()
      assert.equal(3, s.tasks)
      assert.equal(2, s.timers)
    end)
    local s = testing.stats()
    assert.equal(1, s.tasks)
    assert.equal(0, s.timers)
  end))

  it("is all zero after loom.run", function()
    loom.run(function()
      loom.with_group(function(g) g:spawn(loom.sleep, 0.001) end)
    end)
    collectgarbage()
    local s = testing.stats()
    assert.same({ 0, 0, 0, 0, true, true },
                { s.tasks, s.timers, s.anchors, s.stashed, s.tree_empty,
                  s.ready_empty })
  end)
end)

describe("loom.testing.assert_clean", function()
  it("passes after a run that failed", function()
    pcall(loom.run, function()
      loom.with_group(function(g)
        g:spawn(function() error("x") end)
        loom.sleep(1)
      end)
    end)
    testing.assert_clean()
  end)

  it("names what is still alive", S.async(function()
    local e = S.catch(testing.assert_clean)
    assert.matches("live tasks", tostring(e))
  end))
end)
