-- loom.to_thread, loom.thread_limit, loom.thread.cancelled (README,
-- "Blocking work: to_thread").
local loom = require "loom"
local core = require "loom.core"
local T = require "spec.thread_support"
local S = require "spec.support"

local to_thread = loom.to_thread

-- The argument error raised by f(...) (a string), checked to contain
-- every one of the plain texts that follow.
local function argerr(f, ...)
  local e = S.catch(f)
  assert.is_string(e)
  for i = 1, select("#", ...) do
    local want = select(i, ...)
    assert(e:find(want, 1, true), ("expected %q in: %s"):format(want, e))
  end
  return e
end

describe("loom.to_thread", function()
  after_each(function() T.assert_no_jobs() end)

  describe("running", function()
    it("returns the results of fn(...), nils included", T.async(function()
      local r = table.pack(to_thread(function(a, b)
        return a + b, nil, "x", nil
      end, 2, 3))
      assert.equal(4, r.n)
      assert.same({ 5, nil, "x", nil, n = 4 }, r)
      assert.equal(0, select("#", to_thread(function() end)))
    end))

    it("is a checkpoint that lets every other task go on", T.async(function()
      local ticks = 0
      loom.with_group(function(g)
        local ticker = g:spawn(function()
          while true do
            loom.sleep(0.01)
            ticks = ticks + 1
          end
        end)
        assert.equal(300, (to_thread(T.block, 300)))
        ticker:cancel()
      end)
      assert.is_true(ticks >= 10, "only " .. ticks .. " ticks")
    end))

    it("uses loom's own threads: file I/O and DNS are not starved by long "
       .. "jobs", T.async(function()
      T.with_limit(8, function()
        loom.with_group(function(g)
          for _ = 1, 8 do g:spawn(to_thread, T.until_cancelled, 10000) end
          while core.thread_stats().busy < 8 do loom.sleep(0.005) end
          local t0 = loom.now()
          assert.equal("directory", loom.fs.stat(".").type)
          assert.is_true(#loom.dns.getaddrinfo("localhost") > 0)
          assert.is_true(loom.now() - t0 < 3)   -- the jobs last 10 s
          g:cancel()                       -- the jobs see it and return
        end)
      end)
    end))

    it("runs in a Lua state of its own, with the standard libraries",
      T.async(function()
        SPEC_GLOBAL = 1
        local r = table.pack(to_thread(function()
          return SPEC_GLOBAL, type(string.format), type(io.open),
                 type(coroutine.wrap), type(debug.traceback)
        end))
        SPEC_GLOBAL = nil
        assert.same({ nil, "function", "function", "function", "function",
                      n = 5 }, r)
      end))

    it("reuses a worker's state for later jobs (modules load once)",
      T.async(function()
        T.with_limit(1, function()
          to_thread(function() end)   -- the limit applies: extras end
          while core.thread_stats().workers > 1 do loom.sleep(0.005) end
          to_thread(function() WORKER_GLOBAL = (WORKER_GLOBAL or 0) + 1 end)
          local n = to_thread(function()
            WORKER_GLOBAL = WORKER_GLOBAL + 1
            return WORKER_GLOBAL
          end)
          assert.is_true(n >= 2)
          assert.is_nil(rawget(_G, "WORKER_GLOBAL"))
        end)
      end))

    it("require works in the worker: a module on the caller's "
       .. "package.path", T.async(function()
      local dir = os.tmpname()
      os.remove(dir)
      loom.fs.mkdir(dir)
      local f = assert(io.open(dir .. "/loom_spec_mod.lua", "w"))
      f:write("return { answer = 42, state = tostring(_G) }\n")
      f:close()
      local saved = package.path
      package.path = dir .. "/?.lua;" .. saved
      local ok, a, st = pcall(to_thread, function()
        local m = require "loom_spec_mod"
        return m.answer, m.state
      end)
      -- A path changed since is taken up by the next job.
      local f2 = assert(io.open(dir .. "/loom_spec_mod2.lua", "w"))
      f2:write("return 'two'\n")
      f2:close()
      package.path = dir .. "/?.lua;" .. saved
      local ok2, b = pcall(to_thread, function()
        return require "loom_spec_mod2"
      end)
      package.path = saved
      for _, name in ipairs { "loom_spec_mod.lua", "loom_spec_mod2.lua" } do
        loom.fs.unlink(dir .. "/" .. name)
      end
      loom.fs.rmdir(dir)
      assert(ok, a)
      assert(ok2, b)
      assert.equal(42, a)
      assert.are_not.equal(tostring(_G), st)
      assert.equal("two", b)
    end))

    it("require 'loom' in a worker creates no loop or handle, and a worker "
       .. "can run loom itself", T.async(function()
      local tasks, inworker, r = to_thread(function()
        local l = require "loom"
        local c = l.core
        local before = c.stats().tasks
        local v = l.run(function()
          l.sleep(0.01)
          return 5
        end)
        return before, l.thread.in_worker(), v
      end)
      assert.equal(0, tasks)
      assert.is_true(inworker)
      assert.equal(5, r)
      assert.is_false(loom.thread.in_worker())
    end))

    it("is misuse outside of a task and in a nested coroutine", function()
      argerr(function() to_thread(function() end) end, "outside of a loom task")
      loom.run(function()
        local co = coroutine.create(function()
          return to_thread(function() end)
        end)
        local ok, e = coroutine.resume(co)
        assert.is_false(ok)
        assert.matches("nested coroutine", e)
      end)
    end)

    it("runs 10^4 jobs without a leak", T.async(function()
      local function batch(n, per)
        loom.with_group(function(g)
          for i = 1, n do
            g:spawn(function()
              for j = 1, per do
                local a, b = to_thread(function(x, t)
                  return x + 1, #t
                end, i * j, { i, j })
                assert(a == i * j + 1 and b == 2)
              end
            end)
          end
        end)
      end
      batch(50, 20)                  -- warm up: workers, caches
      collectgarbage()
      collectgarbage()
      local kb = collectgarbage("count")
      batch(100, 90)                 -- 9000 more: 10^4 in all
      collectgarbage()
      collectgarbage()
      assert.is_true(collectgarbage("count") < kb + 256,
                     ("Lua heap grew from %.0f KB to %.0f KB"):format(
                       kb, collectgarbage("count")))
      local s = core.thread_stats()
      assert.equal(0, s.running)
      assert.equal(0, s.jobs)
      assert.is_true(s.workers <= loom.thread_limit)
    end))
  end)

  describe("values", function()
    it("copies nested, shared and cyclic tables, keeping their shape",
      T.async(function()
        local shared = { "s" }
        local t = { a = shared, b = shared, list = { 1, 2.5, "x", true },
                    [1] = false, [2.5] = "float key", [shared] = "table key",
                    deep = { { { { "bottom" } } } } }
        t.self = t
        local u, same_ab, cyc, keyed = to_thread(function(v)
          local k
          for key in pairs(v) do
            if type(key) == "table" then k = key end
          end
          return v, v.a == v.b, v.self == v, k == v.a
        end, t)
        assert.is_true(same_ab)
        assert.is_true(cyc)
        assert.is_true(keyed)
        assert.are_not.equal(t, u)
        assert.equal(u, u.self)
        assert.equal(u.a, u.b)
        assert.same({ 1, 2.5, "x", true }, u.list)
        assert.equal("bottom", u.deep[1][1][1][1])
        assert.equal(false, u[1])
        assert.equal("float key", u[2.5])
        assert.equal("table key", u[u.a])
      end))

    it("keeps a table shared between arguments and between results",
      T.async(function()
        local t = {}
        local same, x, y = to_thread(function(a, b)
          local r = { 1 }
          return a == b, r, r
        end, t, t)
        assert.is_true(same)
        assert.equal(x, y)
      end))

    it("copies scalars exactly: integers, floats, strings with zeros, nil",
      T.async(function()
        local nan = 0 / 0
        local r = table.pack(to_thread(function(...)
          return ...
        end, math.maxinteger, math.mininteger, 0.1, -0.0, math.huge, nan,
           "a\0b", "", nil, false))
        assert.equal(10, r.n)
        assert.equal(math.maxinteger, r[1])
        assert.equal(math.mininteger, r[2])
        assert.is_true(math.type(r[1]) == "integer")
        assert.equal(0.1, r[3])
        assert.equal("float", math.type(r[4]))
        assert.equal(math.huge, r[5])
        assert.is_true(r[6] ~= r[6])
        assert.equal("a\0b", r[7])
        assert.equal("", r[8])
        assert.is_nil(r[9])
        assert.is_false(r[10])
      end))

    it("copies tables deeper than the C stack could recurse",
      T.async(function()
        local t = {}
        local cur = t
        for _ = 1, 10000 do
          cur.next = {}
          cur = cur.next
        end
        cur.last = true
        local depth, back = to_thread(function(v)
          local d = 0
          while v.next do
            v = v.next
            d = d + 1
          end
          return d, v
        end, t)
        assert.equal(10000, depth)
        assert.is_true(back.last)
      end))

    it("does not copy metatables", T.async(function()
      local obj = setmetatable({ x = 1 }, { __index = function() return 7 end })
      local mt, x, y = to_thread(function(o)
        return getmetatable(o) ~= nil, o.x, o.y
      end, obj)
      assert.is_false(mt)
      assert.equal(1, x)
      assert.is_nil(y)
    end))

    it("refuses every other value, naming its position", T.async(function()
      local noop = function() end
      local co = coroutine.create(noop)
      argerr(function() to_thread(noop, 1, print) end,
             "bad argument #3 to 'to_thread'",
             "a function cannot be copied to a worker thread")
      argerr(function() to_thread(noop, co) end, "bad argument #2",
             "a thread cannot be copied")
      argerr(function() to_thread(noop, io.stdout) end, "bad argument #2",
             "a userdata cannot be copied")
      argerr(function() to_thread({}, noop, 1, 2, { a = { noop } }) end,
             "bad argument #5", "a function at .a[1] cannot be copied")
      argerr(function() to_thread(noop, { [noop] = 1 }) end,
             "bad argument #2", "a function used as a key cannot be copied")
      argerr(function() to_thread(noop, { t = { [co] = 1 } }) end,
             "a thread used as a key in .t cannot be copied")
      argerr(function() to_thread(noop, { ["a b"] = { [3] = io.stdout } }) end,
             'a userdata at ["a b"][3] cannot be copied')
      -- Nothing ran and nothing is left.
      collectgarbage()
      assert.equal(0, core.thread_stats().jobs)
    end))

    it("refuses a result that cannot be copied back", T.async(function()
      local e = S.catch(to_thread, function() return 1, { f = print } end)
      assert.matches("result #2 of the function cannot be copied back", e,
                     1, true)
      assert.matches("a function at .f", e, 1, true)
    end))
  end)

  describe("the function", function()
    it("may have _ENV as its only upvalue", T.async(function()
      assert.equal("string", to_thread(function() return type("") end))
      assert.equal(3, to_thread(function(a) return a + 1 end, 2))
    end))

    it("with another upvalue is an argument error naming it",
      T.async(function()
        local secret = 1
        argerr(function() to_thread(function() return secret end) end,
               "bad argument #1 to 'to_thread'", "upvalue 'secret'")
        argerr(function()
          to_thread({ abandon_on_cancel = true }, function()
            return secret
          end)
        end, "bad argument #2 to 'to_thread'", "upvalue 'secret'")
      end))

    it("must be a Lua function", T.async(function()
      argerr(function() to_thread(print) end, "bad argument #1",
             "a C function cannot be moved")
      argerr(function() to_thread(42) end, "bad argument #1",
             "function expected, got number")
      argerr(function() to_thread({}) end, "bad argument #2",
             "function expected, got no value")
      argerr(function() to_thread({ abandon_on_cancel = 1 }, print) end,
             "bad argument #1", "abandon_on_cancel must be a boolean")
    end))
  end)

  describe("errors", function()
    it("re-raises a string error with the worker's traceback",
      T.async(function()
        local e = S.catch(to_thread, function(x)
          error("boom " .. x)
        end, 7)
        assert.is_string(e)
        assert.matches("thread_spec%.lua:%d+: boom 7", e)
        assert.matches("worker thread stack traceback:", e, 1, true)
        assert.matches("thread_spec%.lua:%d+: in function", e)
      end))

    it("re-raises a copy of a table error", T.async(function()
      local e = S.catch(to_thread, function()
        error({ code = 42, nested = { "x" } })
      end)
      assert.same({ code = 42, nested = { "x" } }, e)
    end))

    it("keeps other copyable error values; describes the rest",
      T.async(function()
        assert.equal(17, S.catch(to_thread, function() error(17) end))
        assert.equal(false, select(2, pcall(to_thread, function()
          error(false)
        end)))
        local e = S.catch(to_thread, function() error(print) end)
        assert.matches("^function: .*worker thread stack traceback", e)
        local e2 = S.catch(to_thread, function()
          error(setmetatable({ f = print }, { __tostring = function()
            return "custom error"
          end }))
        end)
        assert.matches("^custom error %(the error value could not be copied",
                       e2)
      end))

    it("fails the caller's group like any error", T.async(function()
      local e = S.catch(loom.with_group, function(g)
        g:spawn(to_thread, function() error("in a job") end)
      end)
      assert.is_true(loom.ErrorGroup:is(e))
      assert.matches("in a job", e.errors[1])
    end))
  end)

  describe("thread_limit", function()
    it("defaults to the number of CPUs, at least 4", function()
      local n = loom.thread.default_limit()
      assert.is_true(math.type(n) == "integer" and n >= 4)
      assert.equal(n, loom.thread_limit)
    end)

    it("runs jobs beyond the limit in FIFO order", T.async(function()
      T.with_limit(1, function()
        local res = {}
        loom.with_group(function(g)
          for i = 1, 5 do
            g:spawn(function() res[i] = { to_thread(T.block, 30) } end)
          end
        end)
        for i = 2, 5 do   -- each starts after the one before it ended
          assert.is_true(res[i][2] >= res[i - 1][3] - 1e-6,
                         "job " .. i .. " overlapped job " .. (i - 1))
        end
      end)
    end))

    it("lets at most thread_limit jobs run at once", T.async(function()
      T.with_limit(3, function()
        local peak, t0 = 0, loom.now()
        loom.with_group(function(g)
          for _ = 1, 7 do g:spawn(to_thread, T.block, 100) end
          g:spawn(function()
            for _ = 1, 30 do
              local s = core.thread_stats()
              assert(s.running <= 3 and s.busy <= 3)
              if s.busy > peak then peak = s.busy end
              loom.sleep(0.01)
            end
          end)
        end)
        assert.equal(3, peak)
        S.took(t0, 0.3, 0.35)        -- three waves of 100 ms
      end)
    end))

    it("is read at each call: raising it lets waiting jobs start, lowering "
       .. "it ends idle workers", T.async(function()
      T.with_limit(4, function()
        loom.with_group(function(g)
          for _ = 1, 4 do g:spawn(to_thread, T.block, 50) end
        end)
        assert.equal(4, core.thread_stats().workers)
        loom.thread_limit = 1
        to_thread(function() end)
        for _ = 1, 50 do
          if core.thread_stats().workers == 1 then break end
          loom.sleep(0.01)
        end
        assert.equal(1, core.thread_stats().workers)
      end)
    end))

    it("must be a positive integer", T.async(function()
      for _, bad in ipairs { 0, -1, 1.5, "2", true } do
        T.with_limit(bad, function()
          argerr(function() to_thread(function() end) end,
                 "loom.thread_limit must be a positive integer")
        end)
      end
      T.with_limit(math.huge, function()
        assert.equal(1, to_thread(function() return 1 end))
      end)
    end))
  end)

  describe("loom.run", function()
    it("does not see a deadlock while a job runs", T.async(function()
      local ev = loom.event()
      loom.with_group(function(g)
        g:spawn(function() ev:wait() end)
        to_thread(T.block, 150)
        ev:set()
      end)
    end))

    it("reports a real deadlock only after the job ended", function()
      local t0 = loom.now()
      local ok, e = pcall(loom.run, function()
        loom.with_group(function(g)
          g:spawn(function() loom.event():wait() end)
          g:spawn(to_thread, T.block, 150)
        end)
      end)
      assert.is_false(ok)
      assert.matches("deadlock", tostring(e))
      S.took(t0, 0.15, 1)
      T.assert_no_jobs()
    end)
  end)
end)

describe("loom.thread.cancelled", function()
  after_each(function() T.assert_no_jobs() end)

  it("is false outside a worker and in an uncancelled job",
    T.async(function()
      assert.is_false(loom.thread.cancelled())
      assert.is_false(to_thread(function()
        return require("loom").thread.cancelled()
      end))
    end))
end)
