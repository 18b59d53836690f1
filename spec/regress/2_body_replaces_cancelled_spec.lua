-- Regression 2 (gh-95289; EX-07): the body turns the Cancelled it got into
-- another error (a <close> handler raising): the ErrorGroup holds both
-- errors and the host is not left cancelled afterwards.
local loom = require "loom"
local S = require "spec.support"
local vasync = S.vasync

local function raising_close(msg)
  return setmetatable({}, { __close = function(_, e)
    if loom.is_cancelled(e) then error(msg, 0) end
  end })
end

describe("regression 2: body replacing Cancelled with another error",
         function()
  it("the ErrorGroup holds the child's and the body's errors",
    vasync(function()
      local ok, eg = pcall(loom.with_group, function(g)
        g:spawn(function() loom.sleep(0.01); error("child", 0) end)
        local _ <close> = raising_close("body close")
        loom.sleep(1)
      end)
      assert.is_false(ok)
      assert.same({ "child", "body close" }, eg.errors)
      loom.sleep(0.001)
      loom.checkpoint()   -- the host is not left cancelled
    end))

  it("two children replacing their Cancelled: both errors, in order",
    vasync(function()
      local ok, eg = pcall(loom.with_group, function(g)
        g:spawn(function()
          local _ <close> = raising_close("a")
          loom.sleep(1)
        end)
        g:spawn(function()
          local _ <close> = raising_close("b")
          loom.sleep(1)
        end)
        loom.sleep(0.01)
        g:cancel()
      end)
      assert.is_false(ok)
      assert.same({ "a", "b" }, eg.errors)
      loom.checkpoint()
    end))

  it("under an outer timeout the ErrorGroup propagates unchanged and the "
     .. "task goes on after it", vasync(function()
    local e = S.catch(loom.timeout, 0.01, function()
      loom.with_group(function()
        local _ <close> = raising_close("body close")
        loom.sleep(1)
      end)
    end)
    assert.is_true(loom.ErrorGroup:is(e))
    assert.same({ "body close" }, e.errors)
    loom.sleep(0.001)
    loom.checkpoint()
  end))
end)
