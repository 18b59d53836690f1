local loom = require "loom"
local core = require "loom.core"
local S = require "spec.support"
local H = require "spec.threadpool_support"

local udp = loom.udp

local BYTES do
  local t = {}
  for i = 0, 255 do t[#t + 1] = string.char(i) end
  BYTES = table.concat(t)
end

-- A pair of sockets bound to 127.0.0.1 on free ports.
local function pair()
  return udp.bind("127.0.0.1", 0), udp.bind("127.0.0.1", 0)
end

describe("loom.udp", function()
  local fds, fdnames, open0

  before_each(function()
    fds, fdnames = H.fd_count()
    open0 = core.io_stats().open
  end)

  after_each(function()
    collectgarbage()
    collectgarbage()
    assert.equal(open0, core.io_stats().open, "UDP handles left open")
    H.assert_no_fd_leak(fds, fdnames)
  end)

  describe("udp.bind", function()
    it("binds a free port when 0 is asked", H.async(function()
      local u = udp.bind("127.0.0.1", 0)
      assert.is_true(u.port > 0 and u.port < 65536)
      assert.equal("inet", u.family)
      assert.same({ "127.0.0.1", u.port }, { u:sockname() })
      assert.matches("loom.Udp", tostring(u))
      u:close()
    end))

    it("binds the port it is given", H.async(function()
      local a = udp.bind("127.0.0.1", 0)
      local port = a.port
      a:close()
      loom.sleep(0.01)                     -- let the close finish
      local b = udp.bind("127.0.0.1", port)
      assert.equal(port, b.port)
      b:close()
    end))

    it("resolves a name and binds IPv6", H.async(function()
      local u = udp.bind("localhost", 0)
      assert.is_true(u.port > 0)
      u:close()
      local ok, v6 = pcall(udp.bind, "::1", 0)
      if ok then                           -- when the host has IPv6
        assert.equal("inet6", v6.family)
        v6:close()
      end
    end))

    it("raises EADDRINUSE for a port in use", H.async(function()
      local a = udp.bind("127.0.0.1", 0)
      local e = S.catch(udp.bind, "127.0.0.1", a.port)
      assert.is_true(loom.IOError:is(e), tostring(e))
      assert.equal("EADDRINUSE", e.code)
      assert.equal("bind", e.op)
      assert.matches("127.0.0.1:" .. a.port, e.message, 1, true)
      a:close()
    end))

    it("raises an IOError for a name that does not exist",
      H.async(function()
        local e = S.catch(udp.bind, "no-such-host.invalid", 0)
        assert.is_true(loom.IOError:is(e), tostring(e))
        assert.matches("^EAI_", e.code)
      end))

    it("rejects bad ports at once", H.async(function()
      for _, p in ipairs { -1, 65536, "x", 1.5 } do
        local e = S.catch(udp.bind, "127.0.0.1", p)
        assert.matches("bad argument", tostring(e))
      end
    end))
  end)

  describe("Udp:send_to and Udp:receive_from", function()
    it("round-trip a datagram with the sender's address", H.async(function()
      local a, b = pair()
      a:send_to("hello", "127.0.0.1", b.port)
      assert.same({ "hello", "127.0.0.1", a.port }, { b:receive_from() })
      b:send_to("back", "127.0.0.1", a.port)
      assert.same({ "back", "127.0.0.1", b.port }, { a:receive_from() })
      a:close()
      b:close()
    end))

    it("carry binary, empty and large datagrams", H.async(function()
      local a, b = pair()
      local big = string.rep(BYTES, 32)    -- 8 KiB
      a:send_to(BYTES, "127.0.0.1", b.port)
      a:send_to("", "127.0.0.1", b.port)
      a:send_to(big, "localhost", b.port)
      assert.equal(BYTES, (b:receive_from()))
      assert.equal("", (b:receive_from()))
      assert.is_true(big == (b:receive_from()))
      a:close()
      b:close()
    end))

    it("queue datagrams that arrive while nobody waits", H.async(function()
      local a, b = pair()
      for i = 1, 50 do a:send_to("d" .. i, "127.0.0.1", b.port) end
      loom.sleep(0.05)
      for i = 1, 50 do assert.equal("d" .. i, (b:receive_from())) end
      assert.is_nil(loom.move_on_after(0.02, function()
        return b:receive_from()
      end))
      a:close()
      b:close()
    end))

    it("give each waiting receiver its own datagram", H.async(function()
      local a, b = pair()
      local got = {}
      loom.with_group(function(g)
        for i = 1, 3 do g:spawn(function() got[i] = b:receive_from() end) end
        loom.sleep(0.01)
        for i = 1, 3 do a:send_to("m" .. i, "127.0.0.1", b.port) end
      end)
      table.sort(got)
      assert.same({ "m1", "m2", "m3" }, got)
      a:close()
      b:close()
    end))

    it("wait for a datagram without blocking other tasks",
      H.async(function()
        local a, b = pair()
        local rec = S.recorder()
        loom.with_group(function(g)
          g:spawn(function() rec((b:receive_from())) end)
          g:spawn(function()
            loom.sleep(0.02)
            rec("sending")
            a:send_to("late", "127.0.0.1", b.port)
          end)
        end)
        assert.same({ "sending", "late" }, rec.list)
        a:close()
        b:close()
      end))

    it("raise \"outside of a loom task\" outside a task", function()
      assert.matches("outside of a loom task",
                     tostring(S.catch(udp.bind, "127.0.0.1", 0)))
      local u
      loom.run(function() u = udp.bind("127.0.0.1", 0) end)
      assert.matches("outside of a loom task",
                     tostring(S.catch(u.receive_from, u)))
      assert.matches("outside of a loom task",
                     tostring(S.catch(u.send_to, u, "x", "127.0.0.1", 9)))
      u:close()
    end)

    it("report argument errors at the caller's line", H.async(function()
      local u = udp.bind("127.0.0.1", 0)
      H.argerror(function() u:send_to({}, "127.0.0.1", 9) end,
                 "bad argument #1 to 'send_to' (string expected, got table)")
      H.argerror(function() u:send_to("x", "localhost", 1e9) end,
                 "bad argument #3 to 'send_to' (port out of range)")
      H.argerror(function() udp.bind("127.0.0.1", -1) end,
                 "bad argument #2 to 'bind' (port out of range)")
      H.argerror(function() udp.bind("localhost", "x") end,
                 "bad argument #2 to 'bind' (integer port expected, got "
                 .. "string)")
      u:close()
      H.argerror(function() u:receive_from() end, "closed")
    end))

    it("reject bad arguments at once", H.async(function()
      local u = udp.bind("127.0.0.1", 0)
      assert.matches("bad argument",
                     tostring(S.catch(u.send_to, u, {}, "127.0.0.1", 9)))
      assert.matches("bad argument",
                     tostring(S.catch(u.send_to, u, "x", "127.0.0.1", -3)))
      u:close()
    end))
  end)

  describe("Udp:receive_from cancelled", function()
    it("while blocked loses no later datagram", H.async(function()
      local a, b = pair()
      local t0 = loom.now()
      assert.is_nil(loom.move_on_after(0.05, function()
        return b:receive_from()
      end))
      assert.is_true(loom.now() - t0 >= 0.05)
      a:send_to("after", "127.0.0.1", b.port)
      assert.equal("after", (b:receive_from()))
      a:close()
      b:close()
    end))

    it("at the moment a datagram arrives returns it", H.async(function()
      local a, b = pair()
      local out = H.cancel_at_completion(function()
        return b:receive_from()
      end, function()
        a:send_to("now", "127.0.0.1", b.port)
      end)
      assert.is_true(out.ok, tostring(out.err))
      assert.same({ "now", "127.0.0.1", a.port, n = 3 }, out.result)
      assert.is_true(loom.is_cancelled(out.after))
      a:close()
      b:close()
    end))

    it("with an expired deadline leaves the datagram queued",
      H.async(function()
        local a, b = pair()
        a:send_to("kept", "127.0.0.1", b.port)
        loom.sleep(0.02)
        local e = S.catch(loom.timeout, 0, function()
          return b:receive_from()
        end)
        assert.is_true(loom.TimeoutError:is(e), tostring(e))
        assert.equal("kept", (b:receive_from()))
        a:close()
        b:close()
      end))

    it("under a shield receives", H.async(function()
      local a, b = pair()
      local got, after
      loom.scope(function(s)
        s:cancel()
        loom.shield(function()
          a:send_to("shielded", "127.0.0.1", b.port)
          got = b:receive_from()
        end)
        after = S.catch(loom.checkpoint)
      end)
      assert.equal("shielded", got)
      assert.is_true(loom.is_cancelled(after))
      a:close()
      b:close()
    end))
  end)

  describe("Udp:send_to cancelled", function()
    it("with an expired deadline sends nothing", H.async(function()
      local a, b = pair()
      local e = S.catch(loom.timeout, 0, function()
        a:send_to("never", "127.0.0.1", b.port)
      end)
      assert.is_true(loom.TimeoutError:is(e), tostring(e))
      a:send_to("second", "127.0.0.1", b.port)
      assert.equal("second", (b:receive_from()))
      a:close()
      b:close()
    end))

    it("under a shield sends", H.async(function()
      local a, b = pair()
      local after
      loom.scope(function(s)
        s:cancel()
        loom.shield(function() a:send_to("x", "127.0.0.1", b.port) end)
        after = S.catch(loom.checkpoint)
      end)
      assert.is_true(loom.is_cancelled(after))
      assert.equal("x", (b:receive_from()))
      a:close()
      b:close()
    end))

    it("while resolving a name returns at once", H.async(function()
      local a, b = pair()
      local dir = H.tmpdir()
      H.defer(function() H.rmrf(dir) end)
      H.with_clogged_pool(dir, function()
        assert.is_nil(loom.move_on_after(0.05, function()
          a:send_to("never", "localhost", b.port)
        end))
      end)
      assert.is_nil(loom.move_on_after(0.05, function()
        return b:receive_from()
      end))
      a:close()
      b:close()
    end))
  end)

  describe("Udp:close", function()
    it("is idempotent and makes methods raise \"closed\"", H.async(function()
      local u = udp.bind("127.0.0.1", 0)
      assert.is_false(u.closed)
      u:close()
      u:close()
      assert.is_true(u.closed)
      assert.matches("closed", tostring(S.catch(u.receive_from, u)))
      assert.matches("closed",
                     tostring(S.catch(u.send_to, u, "x", "127.0.0.1", 9)))
      assert.matches("closed", tostring(u))
    end))

    it("wakes a blocked receiver with \"closed\"", H.async(function()
      local u = udp.bind("127.0.0.1", 0)
      local err
      loom.with_group(function(g)
        g:spawn(function() err = S.catch(u.receive_from, u) end)
        loom.sleep(0.02)
        u:close()
      end)
      assert.matches("closed", tostring(err))
    end))

    it("drops queued datagrams", H.async(function()
      local a, b = pair()
      a:send_to("x", "127.0.0.1", b.port)
      loom.sleep(0.02)
      b:close()
      assert.matches("closed", tostring(S.catch(b.receive_from, b)))
      a:close()
    end))

    it("happens through <close> and garbage collection", H.async(function()
      local kept
      do
        local u <close> = udp.bind("127.0.0.1", 0)
        kept = u
      end
      assert.is_true(kept.closed)
      udp.bind("127.0.0.1", 0)             -- never closed by hand
      collectgarbage()
      collectgarbage()
      loom.sleep(0.01)
    end))

    it("an idle socket does not hide a deadlock", function()
      -- In a child process with a time limit: if the socket kept the loop
      -- alive, loom.run would never see that every task is blocked.
      local build = os.getenv("LOOM_BUILD") or "build"
      local cmd = ("LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' " ..
        "LUA_CPATH='./%s/?.so;;' timeout 5 lua5.4 -e '%s' 2>&1"):format(
        build, "local loom = require [[loom]] " ..
        "local ok, e = pcall(loom.run, function() " ..
        "local u = loom.udp.bind([[127.0.0.1]], 0) " ..
        "loom.event():wait() end) print(tostring(e))")
      local p = assert(io.popen(cmd))
      local out = p:read("a")
      p:close()
      assert.matches("deadlock", out)
    end)
  end)
end)
