-- Callback bridges (README, "Embedding loom"): loom.await and loom.use_luv.
local loom = require "loom"
local S = require "spec.support"

local async = S.async

-- The luv module, or nil (its specs are then skipped, with a message).
local has_luv = package.searchpath("luv", package.cpath) ~= nil
  or package.loaded.luv ~= nil
if not has_luv then
  print("bridge_spec: luv is not installed (Debian package lua-luv): "
        .. "the loom.use_luv specs are skipped")
end
local luv_it = has_luv and it or pending

-- Run Lua `code` in a fresh lua5.4 with the in-tree build; returns its
-- output (stdout and stderr) and whether it exited with status 0. With
-- `own_cpath`, Lua's default C path is left out (no luv).
local function run_lua(code, own_cpath)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(code)
  f:close()
  local p = assert(io.popen(("LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' "
    .. "LUA_CPATH='./%s/?.so%s' timeout 20 lua5.4 %s 2>&1"):format(
      os.getenv("LOOM_BUILD") or "build", own_cpath and "" or ";;", file)))
  local out = p:read("a")
  local ok = p:close()
  os.remove(file)
  return out, ok
end

-- A callback-style function that calls back from another task after
-- `delay` seconds (needs a group `g`).
local function later(g, delay, ...)
  local args = table.pack(...)
  return function(cb)
    g:spawn(function()
      loom.sleep(delay)
      cb(table.unpack(args, 1, args.n))
    end)
  end
end

describe("loom.await", function()
  it("returns the arguments the callback was called with, nils included",
    async(function()
      loom.with_group(function(g)
        local r = table.pack(loom.await(later(g, 0.005, 1, nil, "c", nil)))
        assert.same({ n = 4, 1, nil, "c", nil }, r)
        assert.equal(0, select("#", loom.await(later(g, 0))))
      end)
    end))

  it("passes its arguments to fn, before the callback", async(function()
    local seen
    local a, b = loom.await(function(x, y, z, cb)
      seen = { x, y, z }
      cb(x + y, z)
    end, 1, 2, nil)
    assert.same({ 1, 2 }, seen)
    assert.equal(3, a)
    assert.is_nil(b)
  end))

  it("returns when fn calls the callback synchronously", async(function()
    local after = false
    local r = table.pack(loom.await(function(cb)
      cb("now", nil)
      after = true
    end))
    assert.is_true(after)
    assert.same({ n = 2, "now" }, r)
  end))

  it("waits while fn itself waits before calling back", async(function()
    local t0 = loom.now()
    local v = loom.await(function(cb)
      loom.sleep(0.02)
      cb("slept")
    end)
    assert.equal("slept", v)
    assert.is_true(loom.now() - t0 >= 0.02)
  end))

  it("counts the first call of the callback only", async(function()
    local cb
    loom.with_group(function(g)
      g:spawn(function()
        loom.sleep(0.001)
        cb(1)
        cb(2)
      end)
      assert.equal(1, loom.await(function(c) cb = c end))
    end)
    cb(3)  -- ignored, no error
  end))

  it("propagates an error raised by fn unchanged", async(function()
    local E = setmetatable({}, {})
    local cb
    local e = S.catch(loom.await, function(c) cb = c; error(E) end)
    assert.equal(E, e)
    cb("late")  -- ignored
    loom.checkpoint()
  end))

  it("is a checkpoint: an expired deadline raises before fn is called",
    async(function()
      local called = false
      local e = S.catch(loom.timeout, 0, function()
        loom.await(function(cb) called = true; cb() end)
      end)
      assert.is_true(loom.TimeoutError:is(e))
      assert.is_false(called)
    end))

  it("is cancelled while blocked; a later callback is ignored",
    async(function()
      local cb
      local t0 = loom.now()
      local r = table.pack(loom.move_on_after(0.02, function()
        return loom.await(function(c) cb = c end)
      end))
      assert.equal(0, r.n)
      assert.is_true(loom.now() - t0 >= 0.02)
      assert.is_function(cb)
      cb("too late")
      loom.checkpoint()
    end))

  it("cancelled by t:cancel(), ends the task cancelled", async(function()
    local cb
    loom.with_group(function(g)
      local t = g:spawn(function()
        return loom.await(function(c) cb = c end)
      end)
      loom.sleep(0.001)
      t:cancel()
      loom.sleep(0.001)
      assert.equal("cancelled", t.status)
      cb(1)
    end)
  end))

  it("when the callback and the cancellation come in one turn, returns "
     .. "the values if the callback came first", async(function()
    local got, reached
    loom.with_group(function(g)
      local scope, cb
      g:spawn(function()
        loom.scope(function(s)
          scope = s
          got = table.pack(loom.await(function(c) cb = c end))
          loom.checkpoint()
          reached = true
        end)
      end)
      g:spawn(function()
        loom.sleep(0.001)
        cb("v")
        scope:cancel()
      end)
    end)
    assert.same({ n = 1, "v" }, got)
    assert.is_nil(reached)
  end))

  it("when the cancellation comes first, raises and ignores the callback",
    async(function()
      local got, cancelled
      loom.with_group(function(g)
        local scope, cb
        g:spawn(function()
          loom.scope(function(s)
            scope = s
            local ok, e = pcall(loom.await, function(c) cb = c end)
            cancelled = not ok and loom.is_cancelled(e)
            if not ok then error(e, 0) end
            got = true
          end)
        end)
        g:spawn(function()
          loom.sleep(0.001)
          scope:cancel()
          cb("v")
        end)
      end)
      assert.is_true(cancelled)
      assert.is_nil(got)
    end))

  it("works under a shield inside a cancelled scope", async(function()
    loom.with_group(function(g)
      local v = loom.scope(function(s)
        s:cancel()
        return loom.shield(function()
          return loom.await(later(g, 0.005, "shielded"))
        end)
      end)
      assert.equal("shielded", v)
    end)
  end))

  it("raises 'outside of a loom task' without calling fn", function()
    local called = false
    local e = S.catch(loom.await, function(cb) called = true; cb() end)
    assert.matches("outside of a loom task", tostring(e))
    assert.is_false(called)
  end)

  it("raises 'nested coroutine' from a coroutine inside a task",
    async(function()
      local co = coroutine.wrap(function()
        return loom.await(function(cb) cb() end)
      end)
      assert.matches("nested coroutine", tostring(S.catch(co)))
    end))

  it("rejects a non-callable fn", async(function()
    for _, v in ipairs { 1, "f", {}, true } do
      assert.matches("bad argument #1", tostring(S.catch(loom.await, v)))
    end
    local f = setmetatable({}, { __call = function(_, cb) cb(9) end })
    assert.equal(9, loom.await(f))
  end))
end)

describe("loom.use_luv", function()
  local uv
  setup(function()
    if has_luv then uv = loom.use_luv() end
  end)

  luv_it("returns the luv module and is idempotent", function()
    assert.is_table(uv)
    assert.is_function(uv.new_timer)
    assert.equal(uv, loom.use_luv())
    assert.equal(uv, package.loaded.luv)
  end)

  luv_it("runs a luv timer and loom sleeps in one program", async(function()
    local log = {}
    local t = uv.new_timer()
    t:start(100, 0, function()
      t:close()
      log[#log + 1] = "luv 100ms"
    end)
    loom.with_group(function(g)
      g:spawn(function() loom.sleep(0.002) log[#log + 1] = "loom 2ms" end)
      g:spawn(function() loom.sleep(0.25) log[#log + 1] = "loom 250ms" end)
    end)
    assert.same({ "loom 2ms", "luv 100ms", "loom 250ms" }, log)
  end))

  luv_it("awaits a luv fs call", async(function()
    local name = os.tmpname()
    local f = assert(io.open(name, "w"))
    f:write("12345")
    f:close()
    local err, st = loom.await(uv.fs_stat, name)
    assert.is_nil(err)
    assert.equal(5, st.size)
    assert.equal("file", st.type)
    os.remove(name)
    local err2, st2 = loom.await(uv.fs_stat, name)
    assert.matches("ENOENT", err2)
    assert.is_nil(st2)
  end))

  luv_it("awaits luv calls from many tasks at once", async(function()
    local results = {}
    loom.with_group(function(g)
      for i = 1, 10 do
        g:spawn(function()
          local err, st = loom.await(uv.fs_stat, ".")
          results[i] = not err and st.type
        end)
      end
    end)
    for i = 1, 10 do assert.equal("directory", results[i]) end
  end))

  luv_it("cancels a task waiting in loom.await; luv's late callback is "
         .. "ignored", async(function()
    local t = uv.new_timer()
    local fired = false
    local t0 = loom.now()
    local r = table.pack(loom.move_on_after(0.01, function()
      return loom.await(function(cb)
        t:start(40, 0, function()
          t:close()
          fired = true
          cb("late")
        end)
      end)
    end))
    assert.equal(0, r.n)
    local dt = loom.now() - t0
    assert.is_true(dt >= 0.01 and dt < 0.035, dt)
    loom.sleep(0.05)
    assert.is_true(fired)
  end))

  luv_it("lets luv's uv.run drive tasks started with loom.start", function()
    local log = {}
    local task = loom.start(function()
      loom.sleep(0.01)
      log[#log + 1] = "task"
      return "done"
    end)
    local t = uv.new_timer()
    t:start(300, 0, function() t:close() log[#log + 1] = "timer" end)
    uv.run("default")
    assert.same({ "task", "timer" }, log)
    assert.equal("done", task:result())
    require("loom.testing").assert_clean()
  end)

  luv_it("opens luv on loom's loop and routes luv callback errors to "
         .. "loom.on_unhandled", function()
    local out, ok = run_lua [[
      local loom = require "loom"
      local uv = loom.use_luv()
      local seen = {}
      loom.on_unhandled(function(e, t) seen[#seen + 1] = { e, t } end)
      local E = {}
      loom.run(function()
        local t = uv.new_timer()
        t:start(1, 0, function() t:close() error(E) end)
        loom.sleep(0.02)
      end)
      assert(#seen == 1 and seen[1][1] == E and seen[1][2] == nil)
      local st = select(2, loom.run(loom.await, uv.fs_stat, "."))
      print("type " .. st.type)
    ]]
    assert.is_true(ok, out)
    assert.matches("type directory", out)
  end)

  luv_it("prints a luv callback error with its traceback by default",
    function()
      local out, ok = run_lua [[
        local loom = require "loom"
        local uv = loom.use_luv()
        loom.run(function()
          local t = uv.new_timer()
          t:start(1, 0, function() t:close() error("luv oops") end)
          loom.sleep(0.02)
        end)
        print("still running")
      ]]
      assert.is_true(ok, out)
      assert.matches("unhandled error in a luv callback: .*luv oops", out)
      assert.matches("traceback", out)
      assert.matches("still running", out)
    end)

  luv_it("finds luv's C API through a preloaded C opener", function()
    local out, ok = run_lua [[
      local path = assert(package.searchpath("luv", package.cpath))
      package.preload.luv = assert(package.loadlib(path, "luaopen_luv"))
      local loom = require "loom"
      local uv = loom.use_luv()
      local err, st = loom.run(loom.await, uv.fs_stat, ".")
      print(st.type, loom.use_luv() == uv)
    ]]
    assert.is_true(ok, out)
    assert.matches("directory\ttrue", out)
  end)

  luv_it("moves luv, loaded first with no handle, to loom's loop", function()
    local out, ok = run_lua [[
      local uv = require "luv"
      local loom = require "loom"
      assert(loom.use_luv() == uv)
      local log = {}
      loom.run(function()
        local t = uv.new_timer()
        t:start(5, 0, function() t:close() log[#log + 1] = "luv" end)
        loom.sleep(0.02)
        log[#log + 1] = "loom"
      end)
      print(table.concat(log, ","))
    ]]
    assert.is_true(ok, out)
    assert.matches("luv,loom", out)
  end)

  luv_it("adopts luv's loop when luv, loaded first, already has handles",
    function()
      local out, ok = run_lua [[
        local uv = require "luv"
        local idle = uv.new_timer()  -- a handle on luv's own loop
        local loom = require "loom"
        loom.use_luv()
        local log = {}
        loom.start(function()
          loom.sleep(0.005)
          log[#log + 1] = "task"
        end)
        local t = uv.new_timer()
        t:start(20, 0, function() t:close() log[#log + 1] = "luv" end)
        uv.run()
        print(table.concat(log, ","))
      ]]
      assert.is_true(ok, out)
      assert.matches("task,luv", out)
    end)

  luv_it("refuses when luv, loaded after loom, already has handles",
    function()
      local out, ok = run_lua [[
        local loom = require "loom"
        local uv = require "luv"
        local t = uv.new_timer()
        local ok, e = pcall(loom.use_luv)
        assert(not ok)
        print(e)
      ]]
      assert.is_true(ok, out)
      assert.matches("loom.use_luv: luv already has handles", out)
    end)

  it("raises a clear error when luv is not installed", function()
    local out, ok = run_lua([[
      local loom = require "loom"
      local ok, e = pcall(loom.use_luv)
      assert(not ok)
      print(e)
    ]], true)
    assert.is_true(ok, out)
    assert.matches("loom.use_luv: luv is not installed", out)
  end)

  it("raises a clear error when luv uses another libuv version", function()
    local out, ok = run_lua [[
      local loom = require "loom"
      package.loaded.luv = {
        version = function() return 0x010203 end,
        version_string = function() return "1.2.3" end,
      }
      local ok, e = pcall(loom.use_luv)
      assert(not ok)
      print(e)
    ]]
    assert.is_true(ok, out)
    assert.matches("built against another libuv %(1%.2%.3", out)
  end)
end)
