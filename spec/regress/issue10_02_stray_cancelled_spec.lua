-- Regression (issue 10, item 2): a Cancelled caught with pcall inside a
-- move_on_after and raised again after the scope was left must not make
-- a failure look like a cancellation. It becomes an ordinary error of its
-- task: it reaches the group's ErrorGroup, join raises it, and loom.run
-- raises it for the root task. A Cancelled raised again while the scope
-- is still cancelled is still a cancellation.
local loom = require "loom"
local S = require "spec.support"

-- Catch the Cancelled of an expired move_on_after and return it.
local function caught_cancelled()
  local err
  loom.move_on_after(0, function()
    local ok, e = pcall(loom.checkpoint)
    assert(not ok)
    err = e
  end)
  assert(loom.is_cancelled(err))
  return err
end

local function is_stray(e)
  return type(e) == "string" and e:find("Cancelled", 1, true) ~= nil and
         e:find("escaped", 1, true) ~= nil
end

describe("a stray Cancelled (raised again outside its scope)", function()
  it("is an error of the task: its group raises an ErrorGroup",
     S.async(function()
    local t
    local ok, eg = pcall(loom.with_group, function(g)
      t = g:spawn(function()
        local err = caught_cancelled()
        error(err, 0)
      end)
    end)
    assert.is_false(ok)
    assert.is_true(loom.ErrorGroup:is(eg))
    assert.equal(1, #eg.errors)
    assert.is_true(is_stray(eg.errors[1]))
    assert.is_false(loom.is_cancelled(eg.errors[1]))
    assert.equal("error", t.status)
    assert.is_false(t:cancelled())
    -- Its traceback names the line that raised it again.
    assert.truthy(eg.tracebacks[1]:find("issue10_02_stray_cancelled_spec",
                                         1, true))
  end))

  it("join raises the error, not TaskCancelled", S.async(function()
    local t
    pcall(loom.with_group, function(g)
      t = g:spawn(function() error(caught_cancelled(), 0) end)
    end)
    local ok, e = pcall(t.join, t)
    assert.is_false(ok)
    assert.is_false(loom.TaskCancelled:is(e))
    assert.is_true(is_stray(e))
  end))

  it("in the root task, loom.run raises the error", function()
    local ok, e = pcall(loom.run, function() error(caught_cancelled(), 0) end)
    assert.is_false(ok)
    assert.is_false(loom.TaskCancelled:is(e))
    assert.is_false(loom.is_cancelled(e))
    assert.is_true(is_stray(e))
  end)

  it("raised again inside a cancelled scope, it is still a cancellation",
     S.async(function()
    local t
    loom.with_group(function(g)
      t = g:spawn(function()
        local ok, e = pcall(loom.sleep, 10)
        assert(not ok)
        error(e, 0)       -- the task's own scope is still cancelled
      end)
      loom.checkpoint()
      t:cancel()
    end)
    assert.equal("cancelled", t.status)
  end))

  it("leaving a group's body, it is the body's error: the group cancels "
     .. "its children and raises an ErrorGroup", S.async(function()
    local child
    local ok, eg = pcall(loom.with_group, function(g)
      child = g:spawn(loom.sleep, 10)
      error(caught_cancelled(), 0)
    end)
    assert.is_false(ok)
    assert.is_true(loom.ErrorGroup:is(eg))
    assert.equal(1, #eg.errors)
    assert.is_true(is_stray(eg.errors[1]))
    assert.equal("cancelled", child.status)
    assert.truthy(eg.tracebacks[1]:find("issue10_02_stray_cancelled_spec",
                                         1, true))
  end))

  it("leaving a group's body inside a cancelled scope, it is a "
     .. "cancellation", S.async(function()
    local child
    loom.move_on_after(0, function()
      loom.with_group(function(g)
        child = g:spawn(loom.sleep, 10)
        local ok, e = pcall(loom.checkpoint)
        assert(not ok)
        error(e, 0)
      end)
    end)
    assert.equal("cancelled", child.status)
  end))
end)
