-- Regression (issue 10, item 7): "outside of a loom task" raised by a
-- function of loom's Lua layer (with_group, timeout, fs.*, tcp.connect,
-- process.run...) named a line of loom's own files (group.lua:50,
-- scope.lua:32); it must name the caller's line, as loom.sleep and the
-- argument errors do.
local loom = require "loom"

-- Call f(...) from line 12 of this file (not as a tail call) and
-- return the error message.
local function message(f, ...)
  local ok, e = pcall(function(...)
    local r = f(...)   -- line 12
    return r
  end, ...)
  assert(not ok, "expected an error")
  return tostring(e)
end

local where = "issue10_07_outside_task_line_spec.lua:12:"

describe("an 'outside of a loom task' error", function()
  local cases = {
    { "loom.with_group", loom.with_group, function() end },
    { "loom.scope", loom.scope, function() end },
    { "loom.timeout", loom.timeout, 1, function() end },
    { "loom.move_on_after", loom.move_on_after, 1, function() end },
    { "loom.shield", loom.shield, function() end },
    { "loom.sleep", loom.sleep, 1 },
    { "loom.fs.stat", loom.fs.stat, "/" },
    { "loom.fs.read_file", loom.fs.read_file, "/" },
    { "loom.tcp.connect", loom.tcp.connect, "127.0.0.1", 9 },
    { "loom.tcp.listen", loom.tcp.listen, "127.0.0.1", 0 },
    { "loom.udp.bind", loom.udp.bind, "127.0.0.1", 0 },
    { "loom.dns.getaddrinfo", loom.dns.getaddrinfo, "localhost" },
    { "loom.process.run", loom.process.run, { "true" } },
    { "loom.signal.wait", loom.signal.wait, "SIGUSR1" },
  }
  for _, c in ipairs(cases) do
    it("from " .. c[1] .. " names the caller's line", function()
      local m = message(table.unpack(c, 2))
      assert.truthy(m:find("outside of a loom task", 1, true), m)
      assert.truthy(m:find(where, 1, true), m)
    end)
  end
end)
