-- Regression (issue 10, item 1): after loom.use_luv(), calling luv's
-- uv.run("nowait") (or "default") inside a task while a sibling was ready
-- crashed: the scheduler ran the sibling from inside the nested uv.run.
-- uv.run from a task (or while loom runs the loop) now raises a clear
-- error; an uv_run entered another way from a task returns at once
-- without running tasks.
local S = require "spec.support"

local has_luv = pcall(require, "luv")

describe("uv.run from inside a loom task", function()
  if not has_luv then
    pending("luv is not installed (Debian package lua-luv)")
    return
  end

  it("raises a clear error and the sibling still runs", function()
    local code, out = S.run_lua([[
      local loom = require "loom"
      local uv = loom.use_luv()
      loom.run(function()
        loom.with_group(function(g)
          g:spawn(function() loom.sleep(0); print("sibling ran") end)
          g:spawn(function()
            for _, mode in ipairs { "nowait", "default", "once" } do
              local ok, e = pcall(uv.run, mode)
              print(mode, ok, (tostring(e):match("not reentrant") ~= nil))
            end
          end)
        end)
      end)
      print("done")
    ]])
    assert.truthy(out:find("nowait\tfalse\ttrue", 1, true), out)
    assert.truthy(out:find("default\tfalse\ttrue", 1, true), out)
    assert.truthy(out:find("once\tfalse\ttrue", 1, true), out)
    assert.truthy(out:find("sibling ran", 1, true), out)
    assert.truthy(out:find("done", 1, true), out)
    assert.equal(0, code, out)
  end)

  it("an unguarded uv.run returns without running tasks", function()
    local code, out = S.run_lua([[
      local uv = require "luv"
      local raw_run = uv.run          -- taken before loom guards it
      local loom = require "loom"
      loom.use_luv()
      local order = {}
      loom.run(function()
        loom.with_group(function(g)
          g:spawn(function() loom.sleep(0); order[#order + 1] = "sibling" end)
          g:spawn(function()
            raw_run("default")        -- must return, not hang or crash
            order[#order + 1] = "returned"
          end)
        end)
      end)
      print(table.concat(order, " "))
    ]])
    assert.truthy(out:find("returned sibling", 1, true), out)
    assert.equal(0, code, out)
  end)

  it("uv.run outside loom.run still drives loom.start tasks", function()
    local code, out = S.run_lua([[
      local loom = require "loom"
      local uv = loom.use_luv()
      loom.start(function() loom.sleep(0.01); print("started task ran") end)
      uv.run()
    ]])
    assert.truthy(out:find("started task ran", 1, true), out)
    assert.equal(0, code, out)
  end)
end)
