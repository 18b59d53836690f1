-- The deadline heap (csrc/core/clock.c): one (4-ary) min-heap of every sleep
-- and scope deadline, where clearing a deadline (a sleep cancelled, a
-- scope left before its deadline) only marks its entry dead; dead entries
-- are dropped at the top and at the end, and the heap is rebuilt once
-- they are more than half of it. These specs check, against a model, that
-- firing order stays (deadline, then FIFO) with dead entries anywhere in
-- the heap, and that dead entries do not pile up.
local loom = require "loom"
local testing = require "loom.testing"
local S = require "spec.support"

-- A small linear congruential generator: the same sequence on every run.
local function rng(seed)
  local x = seed
  return function(n)
    x = (x * 1103515245 + 12345) % 2147483648
    return x % n + 1
  end
end

describe("the deadline heap", function()
  it("wakes sleepers in deadline order, FIFO among equal deadlines, with a "
     .. "random part of them cancelled", S.vasync(function()
    local rand, n = rng(7), 3000
    local woke, tasks, wants, cancelled = {}, {}, {}, {}
    local t0 = loom.now()
    loom.with_group(function(g)
      for i = 1, n do
        local d = rand(40) / 8           -- many equal deadlines
        wants[i] = d
        tasks[i] = g:spawn(function()
          loom.sleep(d)
          woke[#woke + 1] = i
          assert.is_true(loom.now() - t0 >= d)
        end)
      end
      loom.sleep(0)                      -- every one is asleep
      assert.equal(n, testing.stats().timers)
      for i = 1, n do
        if rand(5) <= 2 then cancelled[i] = true; tasks[i]:cancel() end
      end
    end)
    local expect = {}
    for i = 1, n do if not cancelled[i] then expect[#expect + 1] = i end end
    table.sort(expect, function(a, b)
      if wants[a] ~= wants[b] then return wants[a] < wants[b] end
      return a < b
    end)
    assert.same(expect, woke)
    for i = 1, n do
      assert.equal(cancelled[i] == true, tasks[i]:cancelled())
    end
    assert.equal(0, testing.stats().timers)
    assert.equal(0, testing.stats().timer_entries)
  end))

  it("fires each scope at its last deadline when deadlines move among "
     .. "dead entries", S.vasync(function()
    local rand, n = rng(11), 500
    local fired, final = {}, {}
    local t0 = loom.now()
    loom.with_group(function(g)
      local scopes = {}
      for i = 1, n do
        g:spawn(function()
          loom.scope(function(s)
            scopes[i] = s
            s.deadline = t0 + rand(100)
            loom.sleep(1000)
          end)
          fired[i] = loom.now() - t0
        end)
      end
      loom.sleep(0)
      for _ = 1, 3 * n do                -- move, clear and set again
        local i = rand(n)
        local r = rand(4)
        if r == 1 then scopes[i].deadline = math.huge
        else scopes[i]:reschedule(t0 + rand(100) + 0.5) end
      end
      for i = 1, n do
        if scopes[i].deadline == math.huge then
          scopes[i].deadline = t0 + 200 + i
        end
        final[i] = scopes[i].deadline - t0
      end
    end)
    for i = 1, n do assert.equal(final[i], fired[i]) end
    assert.equal(0, testing.stats().timer_entries)
  end))

  it("keeps no pile of dead entries when timeouts end before their "
     .. "deadline", S.vasync(function()
    loom.with_group(function(g)
      g:spawn(loom.sleep, 1000)          -- the top stays this sleeper
      loom.sleep(0)
      local most = 0
      for i = 1, 20000 do
        loom.timeout(10 + i % 7, loom.checkpoint)
        local st = testing.stats()
        assert.equal(1, st.timers)
        if st.timer_entries > most then most = st.timer_entries end
      end
      assert.is_true(most <= 2 * 64 + 2, "entries: " .. most)
      g:cancel()
    end)
    assert.equal(0, testing.stats().timer_entries)
  end))

  it("cancels 20 000 sleepers at once and leaves the heap empty",
     S.vasync(function()
    local n, unwound = 20000, 0
    loom.with_group(function(g)
      for i = 1, n do
        g:spawn(function()
          local ok = pcall(loom.sleep, 100 + i % 13)
          if not ok then unwound = unwound + 1 end
        end)
      end
      loom.sleep(0)
      assert.equal(n, testing.stats().timer_entries)
      g:cancel()
    end)
    assert.equal(n, unwound)
    assert.equal(0, testing.stats().timers)
    assert.equal(0, testing.stats().timer_entries)
  end))
end)
