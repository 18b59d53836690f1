-- loom.tcp (lua/loom/tcp.lua, csrc/tcp.c) and Listeners (csrc/stream.c):
-- connect, listen, accept, serve, addresses, and the cancellation of each
-- blocking call. Everything on 127.0.0.1.
local loom = require "loom"
local S = require "spec.support"
local IO = require "spec.io_support"

local async = IO.async

-- Echo every line back (a handler for serve).
local function echo_lines(s)
  while true do
    local line = s:read_line()
    if line == nil then return end
    s:write(line .. "\n")
  end
end

-- A listener whose backlog is full: connects to it block (the kernel drops
-- the SYNs). Returns the listener and the connections that got in.
local function full_listener()
  local l = loom.tcp.listen("127.0.0.1", 0, { backlog = 1 })
  local conns = {}
  while true do
    local s = loom.move_on_after(0.1, function()
      return loom.tcp.connect("127.0.0.1", l.port)
    end)
    if not s then break end
    conns[#conns + 1] = s
    assert(#conns < 20, "the backlog never filled")
  end
  return l, conns
end

describe("loom.tcp.connect", function()
  it("makes an echo round trip", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    loom.with_group(function(g)
      g:spawn(function()
        local s <close> = l:accept()
        echo_lines(s)
      end)
      local c <close> = loom.tcp.connect("127.0.0.1", l.port)
      c:write("ping\n")
      assert.equal("ping", c:read_line())
      c:write("pong\n")
      assert.equal("pong", c:read_line())
    end)
    l:close()
  end))

  it("resolves localhost, whatever it resolves to first", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    loom.with_group(function(g)
      g:spawn(function() l:accept():close() end)
      local c = loom.tcp.connect("localhost", l.port)
      assert.equal("127.0.0.1", (c:peername()))
      c:close()
    end)
    l:close()
  end))

  it("raises IOError ECONNREFUSED with code, message and op",
     async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local port = l.port
    l:close()
    local e = S.catch(loom.tcp.connect, "127.0.0.1", port)
    assert.is_true(loom.IOError:is(e))
    assert.equal("ECONNREFUSED", e.code)
    assert.equal("connect", e.op)
    assert.matches("refused", e.message)
    assert.matches("ECONNREFUSED", tostring(e))
  end))

  it("raises IOError for a name that does not resolve", async(function()
    local e = S.catch(loom.tcp.connect, "no-such-host.invalid", 80)
    assert.is_true(loom.IOError:is(e))
    assert.matches("^EAI_", e.code)
    assert.equal("connect", e.op)
  end))

  it("checks its arguments", async(function()
    assert.matches("port", S.catch(loom.tcp.connect, "127.0.0.1", 70000))
    assert.matches("string expected", S.catch(loom.tcp.connect, nil, 80))
    IO.argerror(function() loom.tcp.connect("127.0.0.1", 70000) end,
                "bad argument #2 to 'connect' (port out of range)")
    IO.argerror(function() loom.tcp.connect({}, 80) end,
                "bad argument #1 to 'connect' (string expected, got table)")
    IO.argerror(function() loom.tcp.listen("127.0.0.1", 0, 5) end,
                "bad argument #3 to 'listen' (table expected, got number)")
    IO.argerror(function() loom.tcp.listen("*", 0, { backlog = 0 }) end,
                "bad argument #3 to 'listen' (opts.backlog must be a "
                .. "positive integer)")
  end))

  it("cancelled while blocked closes the attempt", async(function()
    local l, conns = full_listener()
    local t0 = loom.now()
    local ok, e = pcall(loom.timeout, 0.1, function()
      return loom.tcp.connect("127.0.0.1", l.port)
    end)
    assert.is_false(ok)
    assert.is_true(loom.TimeoutError:is(e))
    assert.is_true(loom.now() - t0 >= 0.1)
    for _, c in ipairs(conns) do c:close() end
    l:close()
  end))

  it("with an expired deadline does not connect", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local ok, e = pcall(loom.timeout, 0, function()
      return loom.tcp.connect("127.0.0.1", l.port)
    end)
    assert.is_false(ok)
    assert.is_true(loom.TimeoutError:is(e))
    assert.is_nil(loom.move_on_after(0.05, function() return l:accept() end))
    l:close()
  end))

  it("under a shield goes on", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local c
    loom.scope(function(sc)
      sc:cancel()
      loom.shield(function() c = loom.tcp.connect("localhost", l.port) end)
    end)
    assert.is_not_nil(c)
    l:accept():close()
    c:close()
    l:close()
  end))

  it("sets TCP_NODELAY, which set_nodelay turns off", async(function()
    local c, s = IO.tcp_pair()
    assert.equal(c, c:set_nodelay(false))
    assert.equal(c, c:set_nodelay(true))
    c:close(); s:close()
  end))
end)

describe("Stream:peername and Stream:sockname", function()
  it("give address and port of both ends", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local c = loom.tcp.connect("127.0.0.1", l.port)
    local s = l:accept()
    local ca, cp = c:sockname()
    local pa, pp = s:peername()
    assert.equal("127.0.0.1", ca)
    assert.equal(ca, pa)
    assert.equal(cp, pp)
    assert.same({ "127.0.0.1", l.port }, { c:peername() })
    assert.same({ "127.0.0.1", l.port }, { s:sockname() })
    c:close(); s:close(); l:close()
    assert.matches("closed", S.catch(c.peername, c))
  end))
end)

describe("loom.tcp.listen", function()
  it("reports the bound port when 0 was asked", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    assert.is_true(math.type(l.port) == "integer" and l.port > 0)
    assert.same({ "127.0.0.1", l.port }, { l:sockname() })
    assert.matches("tcp port " .. l.port, tostring(l))
    l:close()
  end))

  it("raises IOError EADDRINUSE for a port in use", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local e = S.catch(loom.tcp.listen, "127.0.0.1", l.port)
    assert.is_true(loom.IOError:is(e))
    assert.equal("EADDRINUSE", e.code)
    assert.equal("listen", e.op)
    l:close()
  end))

  it("accepts a host name", async(function()
    local l = loom.tcp.listen("localhost", 0)
    loom.with_group(function(g)
      g:spawn(function() l:accept():close() end)
      loom.tcp.connect("localhost", l.port):close()
    end)
    l:close()
  end))
end)

describe("Listener:accept", function()
  it("returns each connection", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local c1 = loom.tcp.connect("127.0.0.1", l.port)
    local c2 = loom.tcp.connect("127.0.0.1", l.port)
    local s1, s2 = l:accept(), l:accept()
    c1:write("1"); c2:write("2")
    assert.equal("1", s1:read())
    assert.equal("2", s2:read())
    for _, x in ipairs { c1, c2, s1, s2, l } do x:close() end
  end))

  it("cancelled while blocked loses no connection", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    assert.is_nil(loom.move_on_after(0.05, function() return l:accept() end))
    local c = loom.tcp.connect("127.0.0.1", l.port)
    c:write("hi")
    local s = l:accept()
    assert.equal("hi", s:read())
    c:close(); s:close(); l:close()
  end))

  it("cancelled at the moment a connection comes loses it not",
     async(function()
    for delay = 0, 3 do
      local l = loom.tcp.listen("127.0.0.1", 0)
      local got
      loom.with_group(function(g)
        local t = g:spawn(function() got = l:accept(); loom.sleep(10) end)
        loom.sleep(0.01)
        local c = loom.tcp.connect("127.0.0.1", l.port)
        for _ = 1, delay do loom.checkpoint() end
        t:cancel()
        c:write("x")
        local s = got or l:accept()
        assert.equal("x", s:read())
        s:close(); c:close()
      end)
      l:close()
    end
  end))

  it("with an expired deadline raises and keeps the connection",
     async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local c = loom.tcp.connect("127.0.0.1", l.port)
    local ok, e = pcall(loom.timeout, 0, function() return l:accept() end)
    assert.is_false(ok)
    assert.is_true(loom.TimeoutError:is(e))
    local s = l:accept()
    c:close()
    assert.is_nil(s:read())
    s:close(); l:close()
  end))

  it("under a shield goes on", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local s
    loom.with_group(function(g)
      g:spawn(function()
        loom.sleep(0.03)
        loom.tcp.connect("127.0.0.1", l.port):close()
      end)
      loom.scope(function(sc)
        sc:cancel()
        loom.shield(function() s = l:accept() end)
      end)
    end)
    assert.is_not_nil(s)
    s:close(); l:close()
  end))

  it("raises 'closed' when the listener is closed while it waits",
     async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local err
    loom.with_group(function(g)
      g:spawn(function() err = S.catch(l.accept, l) end)
      loom.sleep(0.02)
      l:close()
      l:close()
    end)
    assert.matches("closed", tostring(err))
    assert.matches("closed", S.catch(l.accept, l))
  end))
end)

describe("Listener:serve", function()
  it("serves 200 concurrent connections", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local n = 0
    loom.timeout(10, function()
      loom.with_group(function(g)
        g:spawn(function() l:serve(echo_lines) end)
        loom.with_group(function(cg)
          for i = 1, 200 do
            cg:spawn(function()
              local c <close> = loom.tcp.connect("127.0.0.1", l.port)
              for j = 1, 5 do
                local msg = ("client %d message %d"):format(i, j)
                c:write(msg .. "\n")
                assert.equal(msg, c:read_line())
              end
              n = n + 1
            end)
          end
        end)
        l:close()
      end)
    end)
    assert.equal(200, n)
  end))

  it("closes each stream when its handler ends, and returns once the "
     .. "listener is closed and the handlers are done", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local rec = S.recorder()
    loom.with_group(function(g)
      g:spawn(function()
        l:serve(function(s)
          s:write("hello\n")
          loom.sleep(0.05)
          rec("handler done")
        end)
        rec("serve returned")
      end)
      local c = loom.tcp.connect("127.0.0.1", l.port)
      assert.equal("hello", c:read_line())
      l:close()
      assert.is_nil(c:read_line())   -- closed by serve after the handler
      rec("client saw EOF")
      c:close()
    end)
    assert.same({ "handler done", "serve returned", "client saw EOF" },
                rec.list)
  end))

  it("is cancelled with the task running it, handlers included",
     async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local rec = S.recorder()
    local c
    loom.with_group(function(g)
      local t = g:spawn(function()
        l:serve(function(s)
          local _, e = pcall(s.read, s)
          rec(loom.is_cancelled(e) and "handler cancelled" or tostring(e))
          error(e, 0)
        end)
      end)
      c = loom.tcp.connect("127.0.0.1", l.port)
      loom.sleep(0.05)
      t:cancel()
    end)
    assert.same({ "handler cancelled" }, rec.list)
    assert.is_nil(c:read())
    c:close(); l:close()
  end))

  it("raises an ErrorGroup when a handler fails", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local boom = setmetatable({}, { __tostring = function() return "boom" end })
    local e
    loom.with_group(function(g)
      g:spawn(function()
        e = S.catch(l.serve, l, function() error(boom) end)
      end)
      loom.tcp.connect("127.0.0.1", l.port):close()
    end)
    assert.is_true(loom.ErrorGroup:is(e))
    assert.equal(boom, e.errors[1])
    l:close()
  end))

  it("requires a function", async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    assert.matches("function expected", S.catch(l.serve, l, 42))
    l:close()
  end))
end)
