local loom = require "loom"
local S = require "spec.support"

describe("loom.run", function()
  it("returns the root function's results, nils included", function()
    local a, b, c, d = loom.run(function(x) return x, nil, 3, nil end, 1)
    assert.same({1, nil, 3, nil}, {a, b, c, d})
    require("loom.testing").assert_clean()
  end)

  it("raises the root's error value unchanged", function()
    local err = setmetatable({}, {})
    local e = S.catch(loom.run, function() loom.sleep(0); error(err) end)
    assert.equal(err, e)
  end)

  it("refuses to nest", function()
    loom.run(function()
      local e = S.catch(loom.run, function() end)
      assert.matches("already running", tostring(e))
    end)
  end)

  it("can run again after it returns", function()
    assert.equal(1, loom.run(function() loom.sleep(0); return 1 end))
    assert.equal(2, loom.run(function() loom.sleep(0); return 2 end))
  end)
end)

describe("blocking calls outside a task", function()
  it("raise 'outside of a loom task'", function()
    for _, f in ipairs { function() loom.sleep(0) end, loom.checkpoint,
                         function() loom.sleep_until(0) end } do
      assert.matches("outside of a loom task", tostring(S.catch(f)))
    end
  end)

  it("raise 'nested coroutine' from a user coroutine inside a task",
    S.async(function()
      local co = coroutine.wrap(function() loom.sleep(0) end)
      assert.matches("nested coroutine", tostring(S.catch(co)))
    end))
end)
