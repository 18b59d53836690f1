-- Regression 26 (test_very_deep_cancel_scope_nesting): cancellation
-- propagation is iterative: 5000 nested scopes, and 5000 nested groups
-- across tasks, are cancelled from the top without a C stack overflow.
local loom = require "loom"
local S = require "spec.support"

describe("regression 26: deep nesting", function()
  it("5000 nested scopes opened by one task", S.async(function()
    local core = require "loom.core"
    local N, scopes = 5000, {}
    for i = 1, N do scopes[i] = core.scope_open(nil, false, false) end
    scopes[1]:cancel()
    local e = S.catch(loom.checkpoint)
    assert.is_true(loom.is_cancelled(e))
    local caught
    for i = N, 1, -1 do
      local ok = pcall(core.scope_exit, scopes[i], false, e)
      if ok then caught = i; break end
    end
    assert.equal(1, caught)
    loom.checkpoint()
  end))

  it("5000 nested shields with the innermost cancelled", S.async(function()
    local core = require "loom.core"
    local N, scopes = 5000, {}
    for i = 1, N do scopes[i] = core.scope_open(nil, true, false) end
    scopes[N]:cancel()
    scopes[1]:cancel()
    local e = S.catch(loom.checkpoint)
    assert.is_true(loom.is_cancelled(e))
    assert.same({ n = 0 }, table.pack(core.scope_exit(scopes[N], false, e)))
    for i = N - 1, 1, -1 do core.scope_exit(scopes[i], true) end
  end))

  it("5000 nested groups across tasks", S.async(function()
    local N, depth, finished = 5000, 0, 0
    loom.move_on_after(10, function(s)
      local function level(i)
        depth = i
        loom.with_group(function(g)
          if i < N then g:spawn(level, i + 1) else s:cancel() end
          loom.sleep(10)
        end)
        finished = finished + 1
      end
      level(1)
    end)
    assert.equal(N, depth)
    assert.equal(0, finished)
  end))
end)
