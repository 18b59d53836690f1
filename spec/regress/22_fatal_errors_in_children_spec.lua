-- Regression 22 (gh-102572, gh-95571, trio#1457): nothing bypasses
-- aggregation in Lua: error() with nil, false, tables, a string that
-- looks like a memory error, a number, in a child or the body, lands in
-- the ErrorGroup as it is (nil as a string), and the siblings are
-- cancelled.
local loom = require "loom"
local S = require "spec.support"

describe("regression 22: special error values in children", function()
  local values = { n = 5, nil, false, {}, "not enough memory", 0 }

  for i = 1, values.n do
    local v = values[i]
    it("error(" .. (type(v) == "string" and ("%q"):format(v) or tostring(v)
                     :gsub("0x%x+", "...")) .. ") in a child is aggregated",
      S.async(function()
        local sibling
        local ok, eg = pcall(loom.with_group, function(g)
          sibling = g:spawn(loom.sleep, 10)
          g:spawn(function() error(v, 0) end)
        end)
        assert.is_false(ok)
        assert.is_true(loom.ErrorGroup:is(eg))
        assert.equal(1, #eg.errors)
        if v == nil then
          assert.equal("string", type(eg.errors[1]))
        else
          assert.equal(v, eg.errors[1])
        end
        assert.equal("cancelled", sibling.status)
      end))

    it("error(" .. type(v) .. ") in the body is aggregated", S.async(function()
      local ok, eg = pcall(loom.with_group, function(g)
        g:spawn(loom.sleep, 10)
        error(v, 0)
      end)
      assert.is_false(ok)
      assert.is_true(loom.ErrorGroup:is(eg))
      if v == nil then
        assert.equal("string", type(eg.errors[1]))
      else
        assert.equal(v, eg.errors[1])
      end
    end))
  end

  it("join of a task that raised nil or false raises that value",
    S.async(function()
      for _, v in ipairs { false } do
        local t
        pcall(loom.with_group, function(g) t = g:spawn(error, v) end)
        local ok, e = pcall(t.result, t)
        assert.is_false(ok)
        assert.equal(v, e)
      end
    end))
end)
