-- Regression 1 (gh-116720; EX-05, EX-06, CF-04): when an inner and an
-- outer group both abort, the inner ErrorGroup caught inside the outer
-- body must not swallow the outer abort: the rest of the outer body is
-- still cancelled; once the outer ErrorGroup is caught nothing is left.
local loom = require "loom"
local S = require "spec.support"
local vasync = S.vasync

describe("regression 1: nested group swallowing an outer cancel", function()
  it("the outer abort still cancels the rest of the outer body",
    vasync(function()
      local log = S.recorder()
      local ok, eg = pcall(loom.with_group, function(outer)
        outer:spawn(function() loom.sleep(0.01); error("outer child", 0) end)
        local ok2, inner_eg = pcall(loom.with_group, function(inner)
          inner:spawn(function()
            -- fails first, but its cleanup keeps the inner group open
            -- until after the outer child failed
            local _ <close> = setmetatable({}, { __close = function()
              loom.shield(function() loom.sleep(0.02) end)
            end })
            loom.sleep(0.005)
            error("inner child", 0)
          end)
          loom.sleep(1)
        end)
        log(not ok2 and loom.ErrorGroup:is(inner_eg) and "inner caught"
            or "inner did not fail")
        local _, e3 = pcall(loom.sleep, 1)
        log(loom.is_cancelled(e3) and "outer body cancelled" or "slept")
        error(e3, 0)
      end)
      assert.is_false(ok)
      assert.same({ "inner caught", "outer body cancelled" }, log.list)
      assert.same({ "outer child" }, eg.errors)
      loom.sleep(0.001)   -- CF-04: nothing pending after the catch
      loom.checkpoint()
    end))

  it("both groups' errors arrive when the inner ErrorGroup is not caught",
    vasync(function()
      local ok, eg = pcall(loom.with_group, function(outer)
        outer:spawn(function() loom.sleep(0.01); error("outer child", 0) end)
        loom.with_group(function(inner)
          inner:spawn(function()
            local _ <close> = setmetatable({}, { __close = function()
              loom.shield(function() loom.sleep(0.02) end)
            end })
            loom.sleep(0.005)
            error("inner child", 0)
          end)
          loom.sleep(1)
        end)
      end)
      assert.is_false(ok)
      assert.equal(2, #eg.errors)
      assert.equal("outer child", eg.errors[1])
      assert.is_true(loom.ErrorGroup:is(eg.errors[2]))
      assert.same({ "inner child" }, eg.errors[2].errors)
      loom.checkpoint()
    end))
end)
