-- Regression (issue 10, item 11): small inconsistencies.
--  * udp.bind worked outside a task while tcp.listen raised "outside of a
--    loom task": every I/O constructor now raises outside a task;
--  * with_group{limit = math.huge} was refused while loom.channel(math.huge)
--    was accepted: math.huge means "no limit" for both;
--  * an argument error named 'loom.semaphore.semaphore': errors name the
--    function as the user knows it (loom.semaphore);
--  * a task name containing "\0" was cut short.
local loom = require "loom"
local S = require "spec.support"

describe("issue 10, small inconsistencies", function()
  it("udp.bind raises outside a task, like tcp.listen", function()
    assert.matches("outside of a loom task",
                   tostring(S.catch(loom.udp.bind, "127.0.0.1", 0)))
    assert.matches("outside of a loom task",
                   tostring(S.catch(loom.tcp.listen, "127.0.0.1", 0)))
  end)

  it("with_group accepts limit = math.huge (no limit)", S.async(function()
    local n = 0
    loom.with_group({ limit = math.huge }, function(g)
      for _ = 1, 100 do g:spawn(function() n = n + 1 end) end
    end)
    assert.equal(100, n)
  end))

  it("argument errors of the sync constructors name loom.<function>",
     function()
    local e = tostring(S.catch(loom.semaphore, -1))
    assert.truthy(e:find("'loom.semaphore'", 1, true), e)
    e = tostring(S.catch(loom.channel, -1))
    assert.truthy(e:find("'loom.channel'", 1, true), e)
  end)

  it("keeps a task name with a \\0 in it whole", S.async(function()
    local t
    loom.with_group(function(g)
      t = g:spawn(function() end)
      t.name = "a\0b"
    end)
    assert.equal("a\0b", t.name)
    assert.equal(3, #t.name)
  end))
end)
