-- Regression (issue 16): the misuse loom noticed but could not raise (a
-- loom.await callback called twice, a future settled twice) went out as
-- Lua warnings, which lua5.4 hides by default. Now they go to the
-- on_unhandled handler when one is set, else to stderr.
local loom = require "loom"
local S = require "spec.support"

describe("loom's warnings", function()
  it("reach stderr by default", function()
    local code, out = S.run_lua([[
      local loom = require "loom"
      loom.run(function()
        local cb
        loom.await(function(done) cb = done; done(1) end)
        cb(2)
      end)
      print("went on")
    ]])
    assert.equal(0, code, out)
    assert.matches("loom: a loom.await callback was called more than once",
                   out)
    assert.matches("went on", out)
  end)

  it("reach the on_unhandled handler when one is set", function()
    local seen
    local old = loom.on_unhandled(function(e, t) seen = { e, t } end)
    loom.run(function()
      local cb
      loom.move_on_after(0.01, function()
        loom.await(function(done) cb = done end)
      end)
      cb("late")
    end)
    loom.on_unhandled(old)
    assert.matches("called after its waiter was cancelled", seen[1])
    assert.is_nil(seen[2])
  end)
end)
