-- Regression 25 (gh-128552, trio#1770, test_exception_refcycles_*): after a
-- group or scope is left, nothing in the scheduler keeps its coroutines,
-- functions, error values or results alive.
local loom = require "loom"
local S = require "spec.support"

local function collect()
  collectgarbage()
  collectgarbage()
end

describe("regression 25: retained errors and tasks", function()
  it("a failed group's error values and tasks are collectable once the "
     .. "ErrorGroup is dropped", S.async(function()
    local weak = setmetatable({}, { __mode = "v" })
    local function run()
      local E = {}
      local fn = function() error(E) end
      weak.E, weak.fn = E, fn
      local ok, eg = pcall(loom.with_group, function(g)
        weak.task = g:spawn(fn)
        weak.group = g
      end)
      assert(not ok)
      weak.eg = eg
    end
    run()
    collect()
    assert.same({}, { E = weak.E, fn = weak.fn, task = weak.task,
                      group = weak.group, eg = weak.eg })
  end))

  it("a cancelled task's coroutine and results are collectable",
    S.async(function()
      local weak = setmetatable({}, { __mode = "v" })
      local function run()
        loom.with_group(function(g)
          local res = {}
          weak.res = res
          weak.task = g:spawn(function()
            local keep = res
            loom.sleep(10)
            return keep
          end)
          weak.ok = g:spawn(function() return res end)
          loom.sleep(0)
          g:cancel()
        end)
      end
      run()
      collect()
      assert.is_nil(weak.task)
      assert.is_nil(weak.ok)
      assert.is_nil(weak.res)
    end))

  it("a TimeoutError and the scope are collectable", S.async(function()
    local weak = setmetatable({}, { __mode = "v" })
    local function run()
      local _, e = pcall(loom.timeout, 0, function(s)
        weak.s = s
        loom.checkpoint()
      end)
      weak.e = e
    end
    run()
    collect()
    assert.is_nil(weak.s)
    assert.is_nil(weak.e)
  end))

  it("the stash keeps no error after the tasks finished", S.async(function()
    local testing = require "loom.testing"
    pcall(loom.with_group, function(g)
      for i = 1, 5 do g:spawn(error, { i }) end
    end)
    collect()
    assert.equal(0, testing.stats().stashed)
  end))
end)
