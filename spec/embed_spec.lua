-- Embedding (README, "Embedding loom"): the example host and the C tests (built
-- by `make`/`make ctest` into $LOOM_BUILD), the exported symbols,
-- loom.start, loom.on_unhandled, loom.shutdown, and futures as Lua sees
-- them (made here through loom.core's test helpers, which call the C API).
local loom = require "loom"
local core = require "loom.core"
local S = require "spec.support"

local async = S.async
local build = os.getenv("LOOM_BUILD") or "build"

-- Output (stdout and stderr) and exit status of shell command `cmd`.
local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok, code
end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  return f ~= nil
end

-- Build the embedding binaries of the default build if they are missing
-- (`make test`, `make asan` and `make valgrind` build them first).
local function need(path)
  if not exists(path) and build == "build" then
    sh("make --no-print-directory ctest host >/dev/null")
  end
  assert(exists(path), path .. " is missing: run `make ctest host`")
  return path
end

-- The lines of `s`, as an array, and the index of each.
local function lines(s)
  local list, index = {}, {}
  for line in s:gmatch("[^\n]+") do
    list[#list + 1] = line
    index[line] = index[line] or #list
  end
  return list, index
end

describe("examples/host.c", function()
  it("embeds loom on its own loop, feeds tasks from a timer and threads, "
     .. "shuts down cleanly", function()
    local out, ok = sh("timeout 20 " .. need(build .. "/examples/host"))
    assert.is_true(ok, out)
    local list, at = lines(out)
    for _, l in ipairs {
      "host: loom runs on the host loop: yes",
      "tick 1", "tick 2", "tick 3",
      "worker: sum(1..10) = 55", "worker: sum(1..100) = 5050",
      "worker: sum(1..1000) = 500500", "worker failed: negative input",
      "unhandled error in failing: bad input",
      "host: work done, shutting down", "service: cleanup done",
      "host: service cancelled", "late task done",
      "host: uv_run returned by itself", "host: uv_loop_close = 0",
    } do
      assert.is_number(at[l], "missing line: " .. l .. "\n" .. out)
    end
    local function before(a, b)
      assert.is_true(at[a] < at[b], a .. " after " .. b .. "\n" .. out)
    end
    before("tick 1", "tick 2")
    before("tick 2", "tick 3")
    before("worker: sum(1..1000) = 500500", "worker failed: negative input")
    before("tick 3", "host: work done, shutting down")
    before("host: work done, shutting down", "service: cleanup done")
    before("service: cleanup done", "host: service cancelled")
    before("host: service cancelled", "late task done")
    before("late task done", "host: uv_run returned by itself")
    assert.equal("host: uv_loop_close = 0", list[#list])
  end)
end)

describe("C tests (spec/c)", function()
  it("pass, every function of loom.h included", function()
    local out, ok = sh("timeout 120 " .. need(build .. "/ctest/run"))
    local list = lines(out)
    local passed, failed = list[#list]:match("^(%d+) passed, (%d+) failed$")
    assert.is_true(ok, out)
    assert.equal("0", failed, out)
    assert.is_true(tonumber(passed) >= 25, out)
  end)
end)

describe("the core library", function()
  it("exports only the LOOM_API symbols", function()
    local out, ok = sh("nm -D --defined-only " .. build .. "/loom/core.so")
    assert.is_true(ok, out)
    local names = {}
    for name in out:gmatch("%s[TDBRVW]%s+([%w_]+)") do
      names[#names + 1] = name
      assert.is_true(name == "luaopen_loom_core" or
                     (name:match("^loom_") ~= nil and
                      name:match("^loom__") == nil),
                     "unexpected exported symbol " .. name)
    end
    table.sort(names)
    for _, want in ipairs { "loom_attach", "loom_future_new",
                            "loom_future_post", "loom_future_reject",
                            "loom_future_resolve", "loom_loop",
                            "luaopen_loom_core" } do
      assert.matches(want, table.concat(names, " "), 1, true)
    end
  end)
end)

describe("loom.start", function()
  after_each(function()
    loom.shutdown()
    loom.on_unhandled(nil)
  end)

  it("returns a running Task without running it; its fields work outside "
     .. "tasks", function()
    local ran = false
    local t = loom.start(function() ran = true end)
    assert.is_false(ran)
    assert.equal("running", t.status)
    assert.is_false(t:done())
    assert.is_false(t:cancelled())
    assert.matches("^task%-%d+$", t.name)
    t.name = "worker"
    assert.equal("worker", t.name)
    assert.matches("not finished", tostring(S.catch(t.result, t)))
    loom.shutdown()
    assert.is_true(ran)  -- it runs until its first checkpoint
    assert.equal("ok", t.status)
  end)

  it("rejects a non-callable", function()
    assert.matches("bad argument #1", tostring(S.catch(loom.start, 42)))
  end)

  it("starts a root task from inside a task, not tied to it",
    async(function()
      local t = loom.start(function() loom.sleep(0.005) return "own" end)
      assert.equal("own", t:join())
    end))
end)

describe("loom.shutdown", function()
  after_each(function() loom.on_unhandled(nil) end)

  it("cancels every started task and waits for their cleanup, shielded "
     .. "waits included; they end cancelled", function()
    local log = {}
    local tasks = {}
    for i = 1, 3 do
      tasks[i] = loom.start(function()
        local _, e = pcall(loom.sleep, 100)
        loom.shield(function() loom.sleep(0.01 * i) end)
        log[#log + 1] = i
        error(e, 0)
      end)
    end
    local t0 = loom.now()
    loom.shutdown()
    local dt = loom.now() - t0
    assert.is_true(dt >= 0.03 and dt < 1, dt)
    table.sort(log)
    assert.same({ 1, 2, 3 }, log)
    for i = 1, 3 do
      assert.equal("cancelled", tasks[i].status)
      assert.is_true(tasks[i]:cancelled())
      assert.is_true(loom.TaskCancelled:is(S.catch(tasks[i].result,
                                                   tasks[i])))
    end
    require("loom.testing").assert_clean()
  end)

  it("cancels a task waiting on a future and releases the loop",
    function()
      local fut = core.future_new()
      local t = loom.start(function() return fut:wait() end)
      loom.shutdown()
      assert.equal("cancelled", t.status)
      local st = core.future_stats()
      assert.equal(0, st.waiting)
      assert.is_false(st.referenced)
      assert.is_false(fut:done())
    end)

  it("is a no-op with nothing started", function()
    local t0 = loom.now()
    loom.shutdown()
    loom.shutdown()
    assert.is_true(loom.now() - t0 < 0.1)
  end)

  it("refuses to run inside a task", async(function()
    assert.matches("loom.shutdown", tostring(S.catch(loom.shutdown)))
  end))

  it("reports an error raised during a started task's cleanup, once",
    function()
      local seen = {}
      loom.on_unhandled(function(e, t) seen[#seen + 1] = { e, t } end)
      local E = setmetatable({}, {})
      local t = loom.start(function()
        pcall(loom.sleep, 100)
        error(E)
      end)
      loom.shutdown()
      assert.equal(1, #seen)
      assert.equal(E, seen[1][1])
      assert.equal(t, seen[1][2])
      assert.equal("error", t.status)
      assert.equal(E, S.catch(t.result, t))
    end)
end)

describe("loom.on_unhandled", function()
  after_each(function() loom.on_unhandled(nil) end)

  it("returns the previous handler; nil restores the default", function()
    local h1 = function() end
    local h2 = function() end
    assert.is_nil(loom.on_unhandled(h1))
    assert.equal(h1, loom.on_unhandled(h2))
    assert.equal(h2, loom.on_unhandled(nil))
    assert.is_nil(loom.on_unhandled(nil))
  end)

  it("rejects a non-function", function()
    assert.matches("bad argument #1", tostring(S.catch(loom.on_unhandled,
                                                       42)))
  end)

  it("gets the raw error and the task, and no cancellation", function()
    local seen = {}
    loom.on_unhandled(function(e, t) seen[#seen + 1] = { e, t } end)
    local E = {}
    local failing = loom.start(function() error(E) end)
    local cancelled = loom.start(function() loom.sleep(100) end)
    loom.shutdown()
    assert.equal(1, #seen)
    assert.equal(E, seen[1][1])
    assert.equal(failing, seen[1][2])
    assert.equal("cancelled", cancelled.status)
  end)
end)

describe("futures", function()
  it("wait returns the resolved values, nils included", async(function()
    local fut = core.future_new()
    loom.with_group(function(g)
      local t = g:spawn(function() return fut:wait() end)
      loom.sleep(0.001)
      assert.is_false(fut:done())
      core.future_resolve(fut, 1, nil, "x", nil)
      assert.is_true(fut:done())
      assert.same({ n = 4, 1, nil, "x", nil }, table.pack(t:join()))
    end)
    assert.same({ n = 4, 1, nil, "x", nil }, table.pack(fut:wait()))
  end))

  it("wait raises the rejected value unchanged, every time",
    async(function()
      local fut = core.future_new()
      local E = setmetatable({}, {})
      core.future_reject(fut, E)
      assert.equal(E, S.catch(fut.wait, fut))
      assert.equal(E, S.catch(fut.wait, fut))
    end))

  it("gets a posted value on a later loop iteration", async(function()
    local fut, bad = core.future_new(), core.future_new()
    assert.equal(0, core.future_post(fut, true, "posted"))
    assert.equal(0, core.future_post(bad, false, "failed"))
    assert.equal(-1, core.future_post(fut, true, "again"))
    assert.is_false(fut:done())
    assert.equal("posted", fut:wait())
    assert.equal("failed", S.catch(bad.wait, bad))
    assert.matches("^loom.Future: resolved", tostring(fut))
    assert.matches("^loom.Future: rejected", tostring(bad))
  end))

  it("refuses a second settlement", async(function()
    local fut = core.future_new()
    core.future_resolve(fut, "one")
    core.future_resolve(fut, "two")
    core.future_reject(fut, "three")
    assert.equal(-1, core.future_post(fut, true, "four"))
    assert.equal("one", fut:wait())
  end))

  it("is a checkpoint: an expired deadline raises even when settled",
    async(function()
      local fut = core.future_new()
      core.future_resolve(fut, 1)
      local e = S.catch(loom.timeout, 0, function() return fut:wait() end)
      assert.is_true(loom.TimeoutError:is(e))
    end))

  it("is cancelled while blocked, leaving the future unsettled and the "
     .. "loop unreferenced", async(function()
    local fut = core.future_new()
    local seen
    loom.with_group(function(g)
      g:spawn(function()
        loom.sleep(0.005)
        seen = core.future_stats()
      end)
      assert.equal(0, select("#", loom.move_on_after(0.02, function()
        return fut:wait()
      end)))
    end)
    assert.equal(1, seen.waiting)
    assert.is_true(seen.referenced)
    local now = core.future_stats()
    assert.equal(0, now.waiting)
    assert.is_false(now.referenced)
    assert.is_false(fut:done())
    core.future_resolve(fut, "later")
    assert.equal("later", fut:wait())
  end))

  it("returns the value when settled and cancelled in one turn, then "
     .. "raises at the next checkpoint", async(function()
    local fut = core.future_new()
    local got, reached
    loom.with_group(function(g)
      local scope
      g:spawn(function()
        loom.scope(function(s)
          scope = s
          got = fut:wait()
          loom.checkpoint()
          reached = true
        end)
      end)
      g:spawn(function()
        loom.sleep(0.001)
        core.future_resolve(fut, "v")
        scope:cancel()
      end)
    end)
    assert.equal("v", got)
    assert.is_nil(reached)
  end))

  it("can be waited for under a shield in a cancelled scope",
    async(function()
      local fut = core.future_new()
      loom.with_group(function(g)
        g:spawn(function()
          loom.sleep(0.005)
          core.future_post(fut, true, "shielded")
        end)
        local v = loom.scope(function(s)
          s:cancel()
          return loom.shield(function() return fut:wait() end)
        end)
        assert.equal("shielded", v)
      end)
    end))

  it("wakes every waiter", async(function()
    local fut = core.future_new()
    local got = {}
    loom.with_group(function(g)
      for i = 1, 4 do g:spawn(function() got[i] = fut:wait() end) end
      loom.sleep(0.001)
      assert.equal(1, core.future_stats().waiting)
      core.future_post(fut, true, "all")
    end)
    assert.same({ "all", "all", "all", "all" }, got)
  end))

  it("stays allocated while unsettled after being collected, and is "
     .. "freed once settled", function()
    collectgarbage()
    local base = core.future_stats().live
    local fut = core.future_new()
    local settled = core.future_new()
    core.future_resolve(settled, 1)
    assert.equal(base + 2, core.future_stats().live)
    settled = nil  -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.equal(base + 1, core.future_stats().live)
    assert.equal(0, core.future_post(fut, true, "x"))
    fut = nil  -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.equal(base + 1, core.future_stats().live)  -- post in flight
    loom.run(function() loom.sleep(0.001) end)
    assert.equal(base, core.future_stats().live)
  end)

  it("raises misuse errors of blocking calls", async(function()
    local fut = core.future_new()
    core.future_resolve(fut, 1)
    local co = coroutine.wrap(function() return fut:wait() end)
    assert.matches("nested coroutine", tostring(S.catch(co)))
    assert.matches("loom.Future", tostring(S.catch(fut.wait, {})))
  end))

  it("raises 'outside of a loom task' outside tasks", function()
    local fut = core.future_new()
    core.future_resolve(fut, 1)
    assert.matches("outside of a loom task",
                   tostring(S.catch(fut.wait, fut)))
  end)
end)
