-- Regression (issue 16): deadlock detection did not fire while a listener
-- was open: a listener nobody accepts on cannot wake anyone, so it must
-- not keep loom.run alive. One that a task is accepting on does.
local loom = require "loom"
local S = require "spec.support"

describe("an open listener nobody accepts on", function()
  for _, kind in ipairs { "tcp", "pipe" } do
    it("does not keep loom.run alive (" .. kind .. "): deadlock at once",
      function()
        local code, out = S.run_lua(([[
          local loom = require "loom"
          local path = os.tmpname(); os.remove(path)
          local t0 = loom.now()
          local ok, e = pcall(loom.run, function()
            local l = %s
            loom.event():wait()
          end)
          os.remove(path)
          print(ok, loom.now() - t0 < 2, e)
        ]]):format(kind == "tcp" and 'loom.tcp.listen("127.0.0.1", 0)'
                   or "loom.pipe.listen(path)"), 10)
        assert.equal(0, code, out)
        assert.matches("^false\ttrue\tloom.run: deadlock", out)
        assert.matches("waiting for event", out)
      end)
  end

  it("keeps its connections for a later accept", S.async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local c = loom.tcp.connect("127.0.0.1", l.port)
    loom.sleep(0.05)                -- the connection waits, unaccepted
    local s = l:accept()
    c:write("x")
    assert.equal("x", s:read())
    s:close(); c:close(); l:close()
  end))

  it("a task blocked in accept keeps the run alive until a client comes",
    S.async(function()
      local l = loom.tcp.listen("127.0.0.1", 0)
      local got
      loom.with_group(function(g)
        g:spawn(function()
          local s = l:accept()
          got = s:read()
          s:close()
        end)
        loom.sleep(0.1)             -- nothing else to do meanwhile
        local c = loom.tcp.connect("127.0.0.1", l.port)
        c:write("late")
        c:close()
      end)
      l:close()
      assert.equal("late", got)
    end))
end)
