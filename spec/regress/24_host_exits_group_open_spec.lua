-- Regression 24 (Trio task_exited): a host task that ends while its group
-- is open (here: killed for calling coroutine.yield) abandons the group:
-- its children are cancelled with the reason "host task ... died", and
-- errors they raise while unwinding are reported to loom.on_unhandled,
-- never lost.
local loom = require "loom"
local S = require "spec.support"

describe("regression 24: host exits while its group is open", function()
  it("children are cancelled and their cleanup errors reach on_unhandled",
    S.async(function()
      local reports, reason = {}, nil
      local prev = loom.on_unhandled(function(err, _task)
        reports[#reports + 1] = err
      end)
      local ok, eg = pcall(loom.with_group, function(g)
        g:spawn(function()
          loom.with_group(function(g2)
            g2:spawn(function()
              local _, e = pcall(loom.sleep, 10)
              reason = e
              error("cleanup failed", 0)
            end)
            loom.sleep(0)
            coroutine.yield()
          end)
        end)
      end)
      loom.sleep(0.001)
      loom.on_unhandled(prev)
      assert.is_false(ok)
      assert.matches("coroutine.yield", tostring(eg.errors[1]))
      assert.is_true(loom.is_cancelled(reason))
      assert.matches("host", tostring(reason))
      assert.equal(1, #reports)
      assert.is_true(loom.ErrorGroup:is(reports[1]))
      assert.same({ "cleanup failed" }, reports[1].errors)
    end))
end)
