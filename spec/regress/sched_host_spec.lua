-- Scheduler fixes found while testing the embedding API: loom.run must not
-- nest inside a host-driven loop, must not wait for loom.start's tasks,
-- loom.shutdown cancels tasks started during the shutdown, and the default
-- unhandled-error handler survives a failing __tostring.
local loom = require "loom"

local function lua_child(code)
  local cmd = ("LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' LUA_CPATH='./%s/?.so;;' "
    .. "lua5.4 -e %q 2>&1"):format(os.getenv("LOOM_BUILD") or "build", code)
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  f:close()
  return out
end

describe("loom.run beside loom.start", function()
  it("returns without waiting for tasks started with loom.start", function()
    local started = loom.start(function() loom.sleep(2) end)
    local t0 = loom.now()
    assert.equal(1, loom.run(function() loom.sleep(0.01); return 1 end))
    assert.is_true(loom.now() - t0 < 1.0)
    assert.is_false(started:done())
    loom.shutdown()
    assert.equal("cancelled", started.status)
  end)
end)

describe("loom.shutdown", function()
  it("also cancels tasks started while it runs", function()
    loom.start(function()
      local _, e = pcall(loom.sleep, 100)
      loom.start(function() loom.sleep(2) end)   -- started during cleanup
      error(e, 0)
    end)
    loom.run(function() loom.sleep(0.01) end)   -- let it start
    local t0 = loom.now()
    loom.shutdown()
    assert.is_true(loom.now() - t0 < 1.0)
    assert.equal(0, require("loom.core").stats().tasks)
  end)

  it("refuses to run from a handler inside a running loop", function()
    local msg
    local old = loom.on_unhandled(function()
      local _, e = pcall(loom.shutdown)
      msg = tostring(e)
    end)
    loom.start(function() error("boom", 0) end)
    loom.run(function() loom.sleep(0.01) end)
    loom.on_unhandled(old)
    assert.matches("cannot be called from inside", msg)
  end)
end)

describe("the default unhandled-error handler", function()
  it("prints errors whose __tostring fails", function()
    local out = lua_child([[
      local loom = require "loom"
      loom.start(function()
        error(setmetatable({}, { __tostring = function() error("bad") end }))
      end)
      loom.run(function() loom.sleep(0.01) end)
      loom.shutdown()
      print("went on")]])
    assert.matches("loom: unhandled error: %(error object is a table", out)
    assert.not_matches("handler failed", out)
    assert.matches("went on", out)
  end)

  it("refuses a nested loom.run from a handler during a host loop (luv)",
    function()
      if not pcall(require, "luv") then
        pending("lua-luv is not installed")
        return
      end
      local out = lua_child([[
        local loom = require "loom"; local uv = loom.use_luv()
        loom.on_unhandled(function() print(pcall(loom.run, function() end)) end)
        loom.start(function() error("x", 0) end)
        uv.run()]])
      assert.matches("false.-already running", out)
      assert.not_matches("deadlock", out)
    end)
end)
