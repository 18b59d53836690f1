-- loom.pipe (lua/loom/pipe.lua, csrc/pipe.c): Streams and Listeners over
-- Unix domain sockets at temporary paths.
local loom = require "loom"
local S = require "spec.support"
local IO = require "spec.io_support"

local async, sock_path = IO.async, IO.sock_path

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() end
  -- A socket cannot be opened as a file: ask the shell instead.
  return os.execute("test -S " .. path) == true
end

describe("loom.pipe.listen", function()
  it("creates the socket file, l.path, and removes it on close",
     async(function()
    local path = sock_path()
    local l = loom.pipe.listen(path)
    assert.equal(path, l.path)
    assert.is_nil(l.port)
    assert.is_true(exists(path))
    assert.same({ path }, { l:sockname() })
    l:close()
    assert.is_false(exists(path))
  end))

  it("raises IOError EADDRINUSE when the path is taken", async(function()
    local path = sock_path()
    local l = loom.pipe.listen(path)
    local e = S.catch(loom.pipe.listen, path)
    assert.is_true(loom.IOError:is(e))
    assert.equal("EADDRINUSE", e.code)
    assert.equal("listen", e.op)
    l:close()
  end))
end)

describe("loom.pipe.connect", function()
  it("makes an echo round trip, half-close included", async(function()
    local path = sock_path()
    local l = loom.pipe.listen(path)
    loom.with_group(function(g)
      g:spawn(function()
        local s <close> = l:accept()
        local all = {}
        while true do
          local d = s:read()
          if not d then break end
          all[#all + 1] = d
        end
        s:write(table.concat(all):upper())
      end)
      local c <close> = loom.pipe.connect(path)
      assert.equal(path, (c:peername()))
      c:write("over a unix socket")
      c:shutdown()
      assert.equal("OVER A UNIX SOCKET", c:read_exactly(18))
      assert.is_nil(c:read())
    end)
    l:close()
  end))

  it("reports argument errors at the caller's line", async(function()
    IO.argerror(function() loom.pipe.connect({}) end,
                "bad argument #1 to 'connect' (string expected, got table)")
    IO.argerror(function() loom.pipe.listen(sock_path(), 7) end,
                "bad argument #2 to 'listen' (table expected, got number)")
  end))

  it("raises IOError ENOENT for a missing path", async(function()
    local e = S.catch(loom.pipe.connect, sock_path())
    assert.is_true(loom.IOError:is(e))
    assert.equal("ENOENT", e.code)
    assert.equal("connect", e.op)
  end))

  it("raises IOError ECONNREFUSED when nobody listens", async(function()
    -- A stale socket file: a hard link to a listener's socket, which
    -- outlives the listener.
    local path, stale = sock_path(), sock_path()
    local l = loom.pipe.listen(path)
    assert.is_true(os.execute("ln " .. path .. " " .. stale))
    l:close()
    assert.is_true(exists(stale))
    local e = S.catch(loom.pipe.connect, stale)
    os.remove(stale)
    assert.is_true(loom.IOError:is(e))
    assert.equal("ECONNREFUSED", e.code)
  end))

  it("with an expired deadline does not connect", async(function()
    local path = sock_path()
    local l = loom.pipe.listen(path)
    local ok, e = pcall(loom.timeout, 0, function()
      return loom.pipe.connect(path)
    end)
    assert.is_false(ok)
    assert.is_true(loom.TimeoutError:is(e))
    l:close()
  end))

  it("serves several clients with serve", async(function()
    local path = sock_path()
    local l = loom.pipe.listen(path)
    local n = 0
    loom.with_group(function(g)
      g:spawn(function()
        l:serve(function(s) s:write(s:read_line() .. "!\n") end)
      end)
      loom.with_group(function(cg)
        for i = 1, 20 do
          cg:spawn(function()
            local c <close> = loom.pipe.connect(path)
            c:write("hi " .. i .. "\n")
            assert.equal("hi " .. i .. "!", c:read_line())
            n = n + 1
          end)
        end
      end)
      l:close()
    end)
    assert.equal(20, n)
  end))
end)
