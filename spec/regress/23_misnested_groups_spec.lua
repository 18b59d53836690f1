-- Regression 23 (trio#3298): a group or scope left open by a coroutine
-- that yields across it. In loom a user coroutine cannot open one (nested
-- coroutine), a task that yields directly is ended and its abandoned
-- children are cancelled, and leaving scopes out of order is refused with
-- "stack corrupted".
local loom = require "loom"
local S = require "spec.support"

describe("regression 23: misnested groups and scopes", function()
  it("a user coroutine cannot open a group or scope", S.async(function()
    for _, f in ipairs {
      function() loom.with_group(function() coroutine.yield() end) end,
      function() loom.scope(function() coroutine.yield() end) end,
    } do
      local co = coroutine.create(f)
      local ok, e = coroutine.resume(co)
      assert.is_false(ok)
      assert.matches("nested coroutine", tostring(e))
    end
    loom.with_group(function(g) g:spawn(loom.sleep, 0.001) end)
  end))

  it("a task yielding out of its open group: the task fails, the "
     .. "abandoned children are cancelled", S.async(function()
    local grandchild
    local ok, eg = pcall(loom.with_group, function(g)
      g:spawn(function()
        loom.with_group(function(g2)
          grandchild = g2:spawn(function()
            local _, e = pcall(loom.sleep, 10)
            error(e, 0)
          end)
          loom.sleep(0)
          coroutine.yield()
        end)
      end)
    end)
    assert.is_false(ok)
    assert.matches("coroutine.yield", tostring(eg.errors[1]))
    loom.shield(function()
      assert.equal("cancelled", grandchild:wait())
    end)
    loom.sleep(0.001)
  end))

  it("leaving scopes out of order is refused with 'stack corrupted'",
    S.async(function()
      local core = require "loom.core"
      local a = core.scope_open(nil, false, false)
      local b = core.scope_open(nil, false, false)
      local e = S.catch(core.scope_exit, a, true)
      assert.matches("corrupted", tostring(e))
      assert.same({ n = 1, "x" }, table.pack(core.scope_exit(b, true, "x")))
      core.scope_exit(a, true)
      loom.checkpoint()
    end))

  it("leaving a scope from another task is refused", S.async(function()
    local core = require "loom.core"
    local s = core.scope_open(nil, false, false)
    local e
    loom.with_group(function(g)
      g:spawn(function() e = S.catch(core.scope_exit, s, true) end)
      loom.sleep(0)
    end)
    assert.matches("corrupted", tostring(e))
    core.scope_exit(s, true)
  end))
end)
