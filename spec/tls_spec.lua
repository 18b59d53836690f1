-- TLS streams (lua/loom/tls.lua, csrc/io/tls.c, csrc/io/tls_ctx.c): the
-- handshake, reading and writing both ways, verification, options, ALPN,
-- versions, truncation, large transfers, servers, cancellation of every
-- blocking call, and interop with openssl s_server / s_client and
-- Python's ssl module. The certificates are made at load time with the
-- openssl CLI (spec/tls_support.lua) and removed at the end.
local loom = require "loom"
local testing = require "loom.testing"
local S = require "spec.support"
local IO = require "spec.io_support"
local TS = require "spec.tls_support"

local tls = loom.tls
local async, pair, catch, is_etls = TS.async, TS.pair, TS.catch, TS.is_etls
local path, sopts, copts = TS.path, TS.server_opts, TS.client_opts

-- Options tables are long-lived (one OpenSSL context each, cached).
local SERVER = sopts()
local CLIENT = copts()
local CLIENT_NOVERIFY = { verify = false }

describe("loom.tls", function()
  teardown(TS.cleanup)

  describe("a loom client and a loom server", function()
    it("handshake, then echo both ways", async(function()
      local l = tls.listen("127.0.0.1", 0, SERVER)
      assert.matches("^loom%.TlsListener %(tcp port %d+%)$", tostring(l))
      loom.with_group(function(g)
        g:spawn(function()
          local s <close> = l:accept()
          assert.matches("handshake pending, server", tostring(s))
          assert.is_nil(s:version())
          local line = s:read_line()
          s:write(line:upper() .. "\n")
          assert.equal("TLSv1.3", s:version())
          assert.is_nil(s:read())            -- the client's shutdown
          s:write("bye")
        end)
        local c <close> = tls.connect("localhost", l.port, CLIENT)
        assert.equal("loom.TlsStream (tcp, TLSv1.3, client)", tostring(c))
        c:write("hello\n")
        assert.equal("HELLO", c:read_line())
        c:shutdown()
        assert.equal("bye", c:read_exactly(3))
        assert.is_nil(c:read())              -- the server's close_notify
        assert.is_nil(c:read())
      end)
      l:close()
    end))

    it("gives the peer's certificate, version and addresses",
       async(function()
      local c, s = pair()
      local cert = c:peer_certificate()
      assert.equal("CN=localhost,O=loom", cert.subject)
      assert.equal("CN=loom test CA", cert.issuer)
      assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%dZ$", cert.not_before)
      assert.matches("^%d%d%d%d%-", cert.not_after)
      assert.same({ "localhost", "127.0.0.1", "::1" }, cert.san)
      assert.is_nil(s:peer_certificate())    -- no client certificate
      assert.equal("TLSv1.3", c:version())
      assert.is_nil(c:alpn())
      local a, p = c:peername()
      local a2, p2 = s:sockname()
      assert.equal("127.0.0.1", a)
      assert.equal(a, a2)
      assert.equal(p, p2)
      assert.equal(c, c:set_nodelay(false))
      c:close(); s:close()
    end))

    it("reads with read, read_exactly and read_line{max}", async(function()
      local c, s = pair()
      c:write("one\r\ntwo\nthree-is-long\nfour")
      assert.equal("one", s:read_line())
      assert.equal("tw", s:read(2))
      assert.equal("o\n", s:read_exactly(2))
      local e = catch(s.read_line, s, { max = 5 })
      assert.equal("ELINETOOLONG", e.code)
      assert.equal("three-is-long", s:read_line{ max = 13 })
      c:close()
      assert.equal("four", s:read_line())
      assert.is_nil(s:read_line())
      s:close()
    end))

    it("read_line{max} does not buffer a 10 MiB line", async(function()
      local c, s = pair()
      loom.with_group(function(g)
        local w = g:spawn(function()
          pcall(s.write, s, string.rep("x", 10 * 1024 * 1024) .. "\n")
        end)
        local e = catch(c.read_line, c, { max = 1024 })
        assert.equal("ELINETOOLONG", e.code)
        local buffered = c:read()
        assert.is_true(#buffered > 1024 and #buffered <= 65536)
        w:cancel()
      end)
      c:close(); s:close()
    end))

    it("several writers: each write goes out whole, in call order",
       async(function()
      local c, s = pair()
      local a = string.rep("a", 3 * 1024 * 1024)
      local b = string.rep("b", 3 * 1024 * 1024)
      loom.with_group(function(g)
        g:spawn(function() c:write(a) end)
        g:spawn(function() c:write(b) end)
        g:spawn(function() c:write("end") end)
        assert.equal(a, s:read_exactly(#a))
        assert.equal(b, s:read_exactly(#b))
        assert.equal("end", s:read_exactly(3))
      end)
      c:close(); s:close()
    end))

    it("read_exactly(2^40) on a stream that ends returns nil",
       async(function()
      local c, s = pair()
      c:write("abc")
      c:shutdown()
      assert.is_nil(s:read_exactly(2^40))
      assert.equal("abc", s:read())
      c:close(); s:close()
    end))

    it("an empty write returns the stream; a bad argument raises",
       async(function()
      local c, s = pair()
      assert.equal(c, c:write(""))
      assert.matches("bad argument #1 to 'write' %(string expected",
                     catch(function() c:write({}) end))
      assert.matches("max must be at least 1", catch(c.read, c, 0))
      c:close(); s:close()
    end))

    it("wraps a Unix socket stream", async(function()
      local p = IO.sock_path()
      local l = loom.pipe.listen(p)
      loom.with_group(function(g)
        g:spawn(function()
          local s <close> = tls.wrap(l:accept(), sopts{ server = true })
          s:write(s:read_line() .. "!\n")
        end)
        local c <close> = tls.wrap(loom.pipe.connect(p),
                                   copts{ server_name = "localhost" })
        assert.matches("pipe, TLSv1.3, client", tostring(c))
        c:write("over a pipe\n")
        assert.equal("over a pipe!", c:read_line())
      end)
      l:close()
    end))

    it("closing the TLS stream closes the plain stream", async(function()
      local l = loom.tcp.listen("127.0.0.1", 0)
      loom.with_group(function(g)
        g:spawn(function()
          local s <close> = tls.wrap(l:accept(), sopts{ server = true })
          s:handshake()
          assert.is_nil(s:read())
        end)
        local plain = loom.tcp.connect("127.0.0.1", l.port)
        local c = tls.wrap(plain, CLIENT)
        c:close()
        c:close()                                   -- idempotent
        assert.matches("closed", catch(plain.read, plain))
        assert.matches("closed", catch(c.read, c))
        assert.matches("closed", catch(c.write, c, "x"))
        assert.matches("closed", catch(c.handshake, c))
        assert.matches("closed", tostring(c))
      end)
      l:close()
    end))

    it("a close wakes a task blocked in a read with 'closed'",
       async(function()
      local c, s = pair()
      loom.with_group(function(g)
        local t = g:spawn(function() return pcall(s.read, s) end)
        loom.sleep(0.02)
        s:close()
        local ok, e = t:join()
        assert.is_false(ok)
        assert.matches("closed", tostring(e))
      end)
      c:close()
    end))

    it("refuses a second reader while one is blocked", async(function()
      local c, s = pair()
      loom.with_group(function(g)
        local t = g:spawn(function() return s:read() end)
        loom.sleep(0.02)
        assert.matches("already reading", catch(s.read, s))
        c:write("x")
        assert.equal("x", t:join())
      end)
      c:close(); s:close()
    end))

    it("mutual TLS: a server that verifies client certificates",
       async(function()
      local so = sopts{ verify = true, ca_file = path("ca.pem") }
      local l = tls.listen("127.0.0.1", 0, so)
      loom.with_group(function(g)
        g:spawn(function()
          local s <close> = l:accept()
          s:handshake()
          assert.equal("CN=loom client", s:peer_certificate().subject)
          s:write("welcome\n")
          local s2 <close> = l:accept()        -- no certificate
          assert.is_true(is_etls(catch(s2.handshake, s2), "handshake"))
        end)
        local c <close> = tls.connect("127.0.0.1", l.port, copts{
          cert_file = path("client.pem"), key_file = path("client.key") })
        assert.equal("welcome", c:read_line())
        local c2 <close> = tls.connect("127.0.0.1", l.port, CLIENT)
        -- TLS 1.3: the client learns of the refusal at its first read.
        local ok, e = pcall(c2.read, c2)
        assert.is_false(ok)
        assert.is_true(loom.IOError:is(e))
      end)
      l:close()
    end))
  end)

  describe("verification", function()
    local function refused(host, opts, server_opts)
      local l = tls.listen("127.0.0.1", 0, server_opts or SERVER)
      local e
      loom.with_group(function(g)
        g:spawn(function()
          local s <close> = l:accept()
          pcall(s.handshake, s)
        end)
        e = catch(tls.connect, host, l.port, opts)
      end)
      l:close()
      assert.is_true(is_etls(e, "handshake"), tostring(e))
      assert.equal("certificate verify failed", e.message)
      return e
    end

    it("is on by default, against the system store: the local CA is "
       .. "unknown there", async(function()
      local e = refused("localhost", nil)
      assert.equal("unable to get local issuer certificate", e.verify_error)
    end))

    it("fails for a certificate of an unknown CA", async(function()
      local e = refused("localhost", CLIENT,
                        { cert_file = path("other.pem"),
                          key_file = path("other.key") })
      assert.equal("unable to get local issuer certificate", e.verify_error)
    end))

    it("fails for a wrong host name, and for a wrong address",
       async(function()
      local e = refused("127.0.0.1", copts{ server_name = "example.com" })
      assert.equal("hostname mismatch", e.verify_error)
      e = refused("127.0.0.1", copts{ server_name = "10.1.2.3" })
      assert.equal("IP address mismatch", e.verify_error)
    end))

    it("fails for an expired certificate", async(function()
      local e = refused("localhost", CLIENT,
                        { cert_file = path("expired.pem"),
                          key_file = path("expired.key") })
      assert.equal("certificate has expired", e.verify_error)
    end))

    it("checks an IP address, and the name of server_name", async(function()
      local c, s = pair(nil, CLIENT)             -- connects to 127.0.0.1
      c:close(); s:close()
      c, s = pair(nil, copts{ server_name = "localhost" })
      c:close(); s:close()
    end))

    it("verify = false accepts any certificate", async(function()
      local c, s = pair(
        { cert_file = path("expired.pem"), key_file = path("expired.key") },
        CLIENT_NOVERIFY)
      c:write("x")
      assert.equal("x", s:read())
      c:close(); s:close()
    end))

    it("a failed handshake closes the stream", async(function()
      local l = tls.listen("127.0.0.1", 0, SERVER)
      loom.with_group(function(g)
        local server_err
        g:spawn(function()
          local s <close> = l:accept()
          server_err = catch(s.handshake, s)
          assert.matches("closed", catch(s.read, s))
        end)
        local plain = loom.tcp.connect("127.0.0.1", l.port)
        local e = catch(tls.wrap, plain, copts{ server_name = "wrong.name" })
        assert.equal("hostname mismatch", e.verify_error)
        assert.matches("closed", catch(plain.write, plain, "x"))
        g:spawn(function()
          loom.sleep(0.1)
          assert.is_true(is_etls(server_err), tostring(server_err))
          assert.matches("alert", server_err.message)
        end)
      end)
      l:close()
    end))
  end)

  describe("options", function()
    -- A port nobody listens on: an option checked after connecting would
    -- give ECONNREFUSED instead.
    local function no_connection(opts, pattern)
      local l = loom.tcp.listen("127.0.0.1", 0)
      local port = l.port
      l:close()
      local e = catch(tls.connect, "127.0.0.1", port, opts)
      assert.is_false(loom.IOError:is(e), tostring(e))
      assert.matches(pattern, tostring(e))
    end

    it("bad options raise before any connection", async(function()
      no_connection({ ca_file = "/nonexistent/ca.pem" }, "opts.ca_file")
      no_connection({ ca_path = "/nonexistent" }, "opts.ca_path")
      no_connection({ cert_file = "/nonexistent.pem" }, "opts.cert_file")
      no_connection({ cert_file = path("srv.pem"),
                      key_file = path("other.key") },
                    "does not match")
      no_connection({ min_version = "TLSv1.9" }, "unknown version")
      no_connection({ max_version = "SSLv3" }, "unknown version")
      no_connection({ alpn = { "" } }, "opts.alpn")
      no_connection({ alpn = "h2" }, "opts.alpn must be a table")
      no_connection({ verfy = true }, "unknown option 'verfy'")
      no_connection({ server_name = 1 }, "opts.server_name must be a string")
      no_connection({ key_file = path("srv.key") }, "needs opts.cert_file")
    end))

    it("a server needs cert_file, checked before listening",
       async(function()
      assert.matches("cert_file", catch(tls.listen, "127.0.0.1", 0, {}))
      assert.matches("table expected", catch(tls.listen, "127.0.0.1", 0))
      assert.matches("cannot load",
                     catch(tls.listen, "127.0.0.1", 0,
                           { cert_file = "/nonexistent" }))
    end))

    it("wrap needs a server_name to verify over a Unix socket",
       async(function()
      local p = IO.sock_path()
      local l = loom.pipe.listen(p)
      local c = loom.pipe.connect(p)
      local s = l:accept()
      assert.matches("server_name", catch(tls.wrap, c, CLIENT))
      assert.matches("loom.Stream expected", catch(tls.wrap, {}, CLIENT))
      c:close(); s:close(); l:close()
    end))

    it("one OpenSSL context per options table, freed with its last stream",
       async(function()
      collectgarbage(); collectgarbage()
      local before = TS.stats().contexts
      do
        local c, s = pair(sopts(), copts())   -- two new tables
        assert.equal(before + 2, TS.stats().contexts)
        c:close(); s:close()
      end
      collectgarbage(); collectgarbage()
      assert.equal(before, TS.stats().contexts)
      local c1, s1 = pair(SERVER, CLIENT)
      local mid = TS.stats().contexts            -- (in any test order)
      local c2, s2 = pair(SERVER, CLIENT)
      assert.equal(mid, TS.stats().contexts)     -- cached for these tables
      c1:close(); s1:close(); c2:close(); s2:close()
    end))
  end)

  describe("ALPN and versions", function()
    local SRV_ALPN = sopts{ alpn = { "h2", "http/1.1" } }

    it("negotiates the server's first protocol the client offers",
       async(function()
      local c, s = pair(SRV_ALPN, copts{ alpn = { "http/1.1", "h2" } })
      assert.equal("h2", c:alpn())
      assert.equal("h2", s:alpn())
      c:close(); s:close()
      c, s = pair(SRV_ALPN, copts{ alpn = { "http/1.1" } })
      assert.equal("http/1.1", c:alpn())
      c:close(); s:close()
    end))

    it("gives nil when nothing was agreed", async(function()
      local c, s = pair(SRV_ALPN, copts{ alpn = { "smtp" } })
      assert.is_nil(c:alpn())
      assert.is_nil(s:alpn())
      c:close(); s:close()
      c, s = pair(SRV_ALPN, CLIENT)
      assert.is_nil(c:alpn())
      c:close(); s:close()
    end))

    it("TLS 1.3 only: a TLS 1.2 client is refused", async(function()
      local only13 = sopts{ min_version = "TLSv1.3" }
      local c, s = pair(only13, CLIENT)
      assert.equal("TLSv1.3", c:version())
      c:close(); s:close()
      local l = tls.listen("127.0.0.1", 0, only13)
      loom.with_group(function(g)
        g:spawn(function()
          local s2 <close> = l:accept()
          local e = catch(s2.handshake, s2)
          assert.is_true(is_etls(e), tostring(e))
        end)
        local e = catch(tls.connect, "127.0.0.1", l.port,
                        copts{ max_version = "TLSv1.2" })
        assert.is_true(is_etls(e, "handshake"), tostring(e))
        assert.matches("alert protocol version", e.message)
      end)
      l:close()
    end))

    it("TLS 1.2 when both allow it", async(function()
      local c, s = pair(nil, copts{ max_version = "TLSv1.2" })
      assert.equal("TLSv1.2", c:version())
      assert.equal("TLSv1.2", s:version())
      c:write("twelve")
      assert.equal("twelve", s:read())
      c:close(); s:close()
    end))
  end)

  -- A TLS pair over plain streams the test holds: TLS client, TLS server,
  -- and the plain streams under them.
  local function raw_pair(sopt, copt)
    local l = loom.tcp.listen("127.0.0.1", 0)
    local pc = loom.tcp.connect("127.0.0.1", l.port)
    local ps = l:accept()
    l:close()
    local s = tls.wrap(ps, sopt or sopts{ server = true })
    local c
    loom.with_group(function(g)
      g:spawn(function() s:handshake() end)
      c = tls.wrap(pc, copt or CLIENT)
    end)
    return c, s, pc, ps
  end

  describe("end of stream", function()
    it("a peer closing without close_notify raises ETLS at the next read",
       async(function()
      local c, s, _, ps = raw_pair()
      s:write("last words")
      loom.sleep(0.02)
      ps:close()                     -- no close_notify
      assert.equal("last words", c:read())    -- what came first is read
      local e = catch(c.read, c)
      assert.is_true(is_etls(e, "read"), tostring(e))
      assert.matches("unexpected eof", e.message)
      assert.is_true(is_etls(catch(c.read_line, c)))  -- and it stays
      c:close(); s:close()
    end))

    it("allow_truncation = true makes it a plain end of stream",
       async(function()
      local c, s, _, ps = raw_pair(nil, copts{ allow_truncation = true })
      s:write("partial line")
      loom.sleep(0.02)
      ps:close()
      assert.equal("partial line", c:read_line())
      assert.is_nil(c:read())
      assert.is_nil(c:read())
      c:close(); s:close()
    end))

    it("close sends close_notify: the peer reads nil", async(function()
      local c, s = pair()
      s:write("done")
      s:close()
      assert.equal("done", c:read())
      assert.is_nil(c:read())
      c:close()
    end))

    it("shutdown sends close_notify and ends the write side; reading goes "
       .. "on", async(function()
      local c, s = pair()
      loom.with_group(function(g)
        g:spawn(function()
          assert.equal("request", s:read_exactly(7))
          assert.is_nil(s:read())
          s:write("reply")
          s:shutdown()
          s:shutdown()                    -- a second call does nothing
        end)
        c:write("request")
        c:shutdown()
        assert.matches("ETLS", tostring(catch(c.write, c, "more")))
        assert.equal("reply", c:read_exactly(5))
        assert.is_nil(c:read())
      end)
      c:close(); s:close()
    end))
  end)

  describe("servers", function()
    -- An echo handler: lines back, upper-cased, until the end.
    local function upper_echo(st)
      for line in function() return st:read_line() end do
        st:write(line:upper() .. "\n")
      end
    end

    it("serve runs many concurrent handshakes, one task each",
       async(function()
      local l = tls.listen("127.0.0.1", 0, SERVER)
      local n, ok = 40, 0
      loom.with_group(function(g)
        g:spawn(function() l:serve(upper_echo) end)
        loom.with_group(function(clients)
          for i = 1, n do
            clients:spawn(function()
              local c <close> = tls.connect("127.0.0.1", l.port, CLIENT)
              c:write("client " .. i .. "\n")
              assert.equal("CLIENT " .. i, c:read_line())
              ok = ok + 1
            end)
          end
        end)
        l:close()
      end)
      assert.equal(n, ok)
    end))

    it("a silent client holds up nobody", async(function()
      local l = tls.listen("127.0.0.1", 0, SERVER)
      local old = loom.on_unhandled(function() end)   -- its handshake fails
      loom.with_group(function(g)
        g:spawn(function() l:serve(upper_echo) end)
        local silent = loom.tcp.connect("127.0.0.1", l.port)
        loom.sleep(0.02)
        local t0 = loom.now()
        local c <close> = tls.connect("127.0.0.1", l.port, CLIENT)
        c:write("hi\n")
        assert.equal("HI", c:read_line())
        assert.is_true(loom.now() - t0 < 1)
        silent:close()
        l:close()
      end)
      loom.on_unhandled(old)
    end))

    it("a failed handshake is reported, and serve goes on", async(function()
      local l = tls.listen("127.0.0.1", 0, SERVER)
      local reported = {}
      local old = loom.on_unhandled(function(e, task)
        reported[#reported + 1] = { e = e, task = task }
      end)
      local ok, err = pcall(loom.with_group, function(g)
        g:spawn(function() l:serve(upper_echo) end)
        -- Not TLS at all, then a client that rejects the certificate.
        local plain <close> = loom.tcp.connect("127.0.0.1", l.port)
        plain:write("GET / HTTP/1.0\r\n\r\n")
        assert.is_nil(plain:read())            -- closed by the server
        local e = catch(tls.connect, "localhost", l.port,
                        { ca_file = path("other_ca.pem") })
        assert.equal("unable to get local issuer certificate",
                     e.verify_error)
        local c <close> = tls.connect("127.0.0.1", l.port, CLIENT)
        c:write("still serving\n")
        assert.equal("STILL SERVING", c:read_line())
        l:close()
      end)
      loom.on_unhandled(old)
      assert.is_true(ok, tostring(err))
      assert.equal(2, #reported)
      for _, r in ipairs(reported) do
        assert.is_true(is_etls(r.e, "handshake"), tostring(r.e))
        assert.matches("^task%-", r.task.name)
      end
    end))

    it("a cancelled accept loses no connection", async(function()
      local l = tls.listen("127.0.0.1", 0, SERVER)
      assert.is_nil(loom.move_on_after(0.02, function() return l:accept() end))
      loom.with_group(function(g)
        g:spawn(function()
          local c <close> = tls.connect("127.0.0.1", l.port, CLIENT)
          c:write("x")
        end)
        loom.sleep(0.05)
        local s <close> = l:accept()
        assert.equal("x", s:read())
      end)
      l:close()
    end))

    it("a reader and a writer may both start the handshake",
       async(function()
      local l = tls.listen("127.0.0.1", 0, SERVER)
      loom.with_group(function(g)
        g:spawn(function()
          local s <close> = l:accept()
          loom.with_group(function(g2)
            g2:spawn(function() assert.equal("ping", s:read_exactly(4)) end)
            g2:spawn(function() s:write("pong") end)
            g2:spawn(function() s:handshake() end)
          end)
        end)
        local c <close> = tls.connect("127.0.0.1", l.port, CLIENT)
        c:write("ping")
        assert.equal("pong", c:read_exactly(4))
      end)
      l:close()
    end))

    it("passes backlog on to loom.tcp.listen", async(function()
      local l = tls.listen("127.0.0.1", 0, sopts{ backlog = 4 })
      assert.is_true(l.port > 0)
      local a, p = l:sockname()
      assert.equal("127.0.0.1", a)
      assert.equal(l.port, p)
      l:close()
      l:close()
      assert.matches("closed", tostring(l))
      assert.matches("backlog", catch(tls.listen, "127.0.0.1", 0,
                                      sopts{ backlog = -1 }))
    end))
  end)

  describe("large transfers", function()
    it("16 MiB each way at once, with backpressure", async(function()
      local c, s = pair()
      local n = 16 * 1024 * 1024
      local up = string.rep("u", n - 1) .. "U"
      local down = string.rep("d", n - 1) .. "D"
      local t0 = loom.now()
      local got_up, got_down
      loom.with_group(function(g)
        local w = g:spawn(function() c:write(up) end)
        loom.sleep(0.1)
        -- Nobody reads yet: the write waits (the kernel's buffers and
        -- the server's receive buffer are far smaller than 16 MiB).
        assert.is_false(w:done())
        g:spawn(function() s:write(down) end)
        g:spawn(function() got_up = s:read_exactly(n) end)
        local parts, k = {}, 0
        while k < n do
          local p = c:read(n - k)
          parts[#parts + 1] = p
          k = k + #p
        end
        got_down = table.concat(parts)
      end)
      local dt = loom.now() - t0 - 0.1
      assert.is_true(got_up == up, "upload differs")
      assert.is_true(got_down == down, "download differs")
      if os.getenv("LOOM_TLS_VERBOSE") then
        print(("\n2 x 16 MiB over TLS in %.3f s"):format(dt))
      end
      c:close(); s:close()
    end))
  end)

  describe("cancelling", function()
    it("a read while blocked loses nothing", async(function()
      local c, s = pair()
      assert.is_nil(loom.move_on_after(0.05, function() return c:read() end))
      s:write("kept")
      assert.equal("kept", c:read())
      c:close(); s:close()
    end))

    it("a read at the moment data arrives loses nothing", async(function()
      for delay = 0, 4 do
        local c, s = pair()
        local got = {}
        local reader
        loom.with_group(function(g)
          reader = g:spawn(function()
            got[#got + 1] = c:read()
            loom.sleep(10)
          end)
          loom.sleep(0.01)
          s:write("data")
          for _ = 1, delay do loom.checkpoint() end
          reader:cancel()
        end)
        assert.equal("cancelled", reader.status)
        local rest = loom.move_on_after(0.05, function() return c:read() end)
        assert.equal("data", (got[1] or "") .. (rest or ""))
        c:close(); s:close()
      end
    end))

    it("a partial read_exactly keeps its bytes", async(function()
      local c, s = pair()
      s:write("par")
      local ok, e = pcall(loom.timeout, 0.05, function()
        return c:read_exactly(6)
      end)
      assert.is_false(ok)
      assert.is_true(loom.TimeoutError:is(e))
      s:write("tial")
      assert.equal("partial", c:read_exactly(7))
      c:close(); s:close()
    end))

    it("a read with an expired deadline reads nothing", async(function()
      local c, s = pair()
      s:write("x")
      loom.sleep(0.02)
      local ok, e = pcall(loom.timeout, 0, function() return c:read() end)
      assert.is_false(ok)
      assert.is_true(loom.TimeoutError:is(e))
      assert.equal("x", c:read())
      c:close(); s:close()
    end))

    it("a read under a shield goes on", async(function()
      local c, s = pair()
      local got
      loom.with_group(function(outer)
        outer:spawn(function() loom.sleep(0.03); s:write("shielded") end)
        loom.scope(function(sc)
          loom.with_group(function(g)
            g:spawn(function()
              loom.shield(function() got = c:read() end)
            end)
            loom.sleep(0.01)
            sc:cancel()
          end)
        end)
      end)
      assert.equal("shielded", got)
      c:close(); s:close()
    end))

    it("a handshake while blocked closes the stream", async(function()
      local l = loom.tcp.listen("127.0.0.1", 0)       -- a silent server
      loom.with_group(function(g)
        g:spawn(function()
          local peer <close> = l:accept()
          repeat until peer:read() == nil            -- closed by the client
        end)
        local plain = loom.tcp.connect("127.0.0.1", l.port)
        local ok, e = pcall(loom.timeout, 0.05, function()
          return tls.wrap(plain, CLIENT)
        end)
        assert.is_false(ok)
        assert.is_true(loom.TimeoutError:is(e))
        assert.matches("closed", catch(plain.read, plain))
      end)
      -- tls.connect too.
      loom.with_group(function(g)
        g:spawn(function()
          local peer <close> = l:accept()
          repeat until peer:read() == nil
        end)
        assert.is_nil(loom.move_on_after(0.05, function()
          return tls.connect("127.0.0.1", l.port, CLIENT)
        end))
      end)
      l:close()
    end))

    it("a server's handshake while blocked closes the stream; the tasks "
       .. "waiting for it raise 'closed'", async(function()
      local l = tls.listen("127.0.0.1", 0, SERVER)
      local plain = loom.tcp.connect("127.0.0.1", l.port)   -- says nothing
      local s = l:accept()
      loom.with_group(function(g)
        local hs = g:spawn(function() s:handshake() end)   -- runs it
        loom.sleep(0.01)
        local waiter = g:spawn(function() return pcall(s.read, s) end)
        loom.sleep(0.01)
        hs:cancel()
        local ok, e = waiter:join()
        assert.is_false(ok)
        assert.matches("closed", tostring(e))
        assert.equal("cancelled", hs.status)
      end)
      assert.matches("closed", catch(s.write, s, "x"))
      assert.is_nil(plain:read())
      plain:close(); l:close()
    end))

    it("a handshake at the moment it completes: done, or closed",
       async(function()
      -- Cancel the client after 0 to 3 turns of the scheduler, then after
      -- 1 to 30 ms: before, during and after its handshake.
      for delay = 0, 8 do
        local l = tls.listen("127.0.0.1", 0, SERVER)
        local c
        loom.with_group(function(g)
          local t = g:spawn(function()
            c = tls.connect("127.0.0.1", l.port, CLIENT)
            loom.sleep(10)
          end)
          local s = l:accept()
          g:spawn(function()
            local s1 <close> = s
            pcall(s1.handshake, s1)
          end)
          if delay <= 3 then
            for _ = 1, delay do loom.checkpoint() end
          else
            loom.sleep(({ 0.001, 0.002, 0.004, 0.01, 0.03 })[delay - 3])
          end
          t:cancel()
        end)
        if c ~= nil then          -- it was done before the cancellation
          assert.equal("TLSv1.3", c:version())
          c:close()
        end
        l:close()
      end
    end))

    it("a handshake under a shield goes on", async(function()
      local l = tls.listen("127.0.0.1", 0, SERVER)
      local c
      loom.with_group(function(g)
        g:spawn(function()
          local s <close> = l:accept()
          loom.sleep(0.03)
          s:write("late")
        end)
        loom.scope(function(sc)
          sc:cancel()
          loom.shield(function()
            c = tls.connect("127.0.0.1", l.port, CLIENT)
          end)
        end)
        assert.equal("late", c:read())
      end)
      c:close(); l:close()
    end))

    it("a write while blocked closes the stream", async(function()
      local c, s = pair()
      local big = string.rep("w", 32 * 1024 * 1024)
      assert.is_nil(loom.move_on_after(0.1, function()
        c:write(big)
        return true
      end))
      assert.matches("closed", catch(c.write, c, "x"))
      assert.matches("closed", catch(c.read, c))
      s:close()
    end))

    it("a write at the moment it completes returns normally, then raises "
       .. "at the next checkpoint", async(function()
      local c, s = pair()
      local big = string.rep("m", 4 * 1024 * 1024)
      local rec = S.recorder()
      local ready_empty = function() return testing.stats().ready_empty end
      local scope
      loom.with_group(function(g)
        g:spawn(function()
          loom.scope(function(sc)
            scope = sc
            c:write(big)
            rec("write returned")
            local e = catch(loom.sleep, 10)
            rec(loom.is_cancelled(e) and "cancelled after" or tostring(e))
          end)
        end)
        loom.sleep(0.05)
        -- Read until the write completes (see stream_spec): cancel the
        -- writer once it is ready, before it runs.
        local got = 0
        while got < #big and #rec.list == 0 and ready_empty() do
          got = got + #s:read(65536)
        end
        while #rec.list == 0 and ready_empty() do loom.sleep(0) end
        scope:cancel()
        while got < #big do got = got + #s:read() end
      end)
      assert.same({ "write returned", "cancelled after" }, rec.list)
      c:write("still open")
      assert.equal("still open", s:read())
      c:close(); s:close()
    end))

    it("a write with an expired deadline writes nothing", async(function()
      local c, s = pair()
      local ok, e = pcall(loom.timeout, 0, function() c:write("no") end)
      assert.is_false(ok)
      assert.is_true(loom.TimeoutError:is(e))
      c:write("yes")
      assert.equal("yes", s:read())
      c:close(); s:close()
    end))

    it("a write under a shield goes on", async(function()
      local c, s = pair()
      loom.scope(function(sc)
        sc:cancel()
        loom.shield(function() c:write("shielded") end)
      end)
      assert.equal("shielded", s:read())
      c:close(); s:close()
    end))

    it("a shutdown under a shield goes on; with an expired deadline it "
       .. "does nothing", async(function()
      local c, s = pair()
      local _, e = pcall(loom.timeout, 0, function() c:shutdown() end)
      assert.is_true(loom.TimeoutError:is(e))
      c:write("still open")
      assert.equal("still open", s:read())
      loom.scope(function(sc)
        sc:cancel()
        loom.shield(function() c:shutdown() end)
      end)
      assert.is_nil(s:read())
      c:close(); s:close()
    end))
  end)

  describe("with peers that are not loom", function()
    -- Read lines of `st` until one matches `pat`; returns its captures.
    local function wait_line(st, pat)
      for line in function() return st:read_line() end do
        local m = { line:match(pat) }
        if m[1] ~= nil then return table.unpack(m) end
      end
      error("no line matching " .. pat)
    end

    -- A Python script in the certificates' directory.
    local function script(name, code)
      local p = path(name)
      local f = assert(io.open(p, "w"))
      f:write(code)
      f:close()
      return p
    end

    it("a loom client with openssl s_server", async(function()
      local p = loom.process.spawn{
        "openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1",
        "-cert", path("srv.pem"), "-key", path("srv.key"), "-rev",
        stdout = "pipe", stderr = "null", stdin = "null",
      }
      local port = tonumber(wait_line(p.stdout, "^ACCEPT .*:(%d+)$"))
      local c <close> = tls.connect("localhost", port, CLIENT)
      c:write("loom\n")
      assert.equal("mool", c:read_line())
      c:close()
      p:wait()
      p.stdout:close()
    end))

    it("a loom server with openssl s_client", async(function()
      local l = tls.listen("127.0.0.1", 0, sopts{ alpn = { "echo" } })
      loom.with_group(function(g)
        g:spawn(function()
          local s <close> = l:accept()
          assert.equal("ping", s:read_line())
          assert.equal("echo", s:alpn())
          s:write("PONG\n")
          assert.is_nil(s:read())
        end)
        local p = loom.process.spawn{
          "openssl", "s_client", "-connect", "127.0.0.1:" .. l.port,
          "-servername", "localhost", "-CAfile", path("ca.pem"),
          "-verify_return_error", "-alpn", "echo", "-quiet", "-no_ign_eof",
          stdin = "pipe", stdout = "pipe", stderr = "null",
        }
        p.stdin:write("ping\n")
        assert.equal("PONG", p.stdout:read_line())
        p.stdin:close()               -- s_client ends the connection
        assert.equal(0, p:wait())
        p.stdout:close()
      end)
      l:close()
    end))

    it("a loom client with a Python ssl server", async(function()
      local py = script("server.py", [[
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ctx.set_alpn_protocols(["h2", "http/1.1"])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
s = ctx.wrap_socket(conn, server_side=True)
data = b""
while not data.endswith(b"\n"):
    data += s.recv(4096)
s.sendall(data.upper() + s.selected_alpn_protocol().encode() + b"\n")
s.unwrap()
s.close()
]])
      local p = loom.process.spawn{
        "python3", py, path("srv.pem"), path("srv.key"),
        stdout = "pipe",
      }
      local port = tonumber(p.stdout:read_line())
      local c <close> = tls.connect("localhost", port,
                                    copts{ alpn = { "http/1.1" } })
      c:write("from loom\n")
      assert.equal("FROM LOOM", c:read_line())
      assert.equal("http/1.1", c:read_line())
      assert.is_nil(c:read())             -- Python's close_notify (unwrap)
      c:close()
      assert.equal(0, p:wait())
      p.stdout:close()
    end))

    it("a loom server with a Python ssl client", async(function()
      local py = script("client.py", [[
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
with socket.create_connection(("127.0.0.1", int(sys.argv[2]))) as sock:
    with ctx.wrap_socket(sock, server_hostname="localhost") as s:
        s.sendall(b"from python\n")
        data = b""
        while not data.endswith(b"\n"):
            data += s.recv(4096)
        print(data.decode().strip(), s.version(), flush=True)
]])
      local l = tls.listen("127.0.0.1", 0, SERVER)
      loom.with_group(function(g)
        g:spawn(function()
          local s <close> = l:accept()
          s:write(s:read_line():upper() .. "\n")
        end)
        local r = loom.process.run{ "python3", py, path("ca.pem"),
                                    tostring(l.port) }
        assert.equal(0, r.code, r.stderr)
        assert.equal("FROM PYTHON TLSv1.3\n", r.stdout)
      end)
      l:close()
    end))

    it("a Python client that rejects the certificate fails the handshake",
       async(function()
      local py = script("reject.py", [[
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[2]))) as sock:
        ctx.wrap_socket(sock, server_hostname="localhost")
except ssl.SSLCertVerificationError as e:
    print(e.verify_message)
]])
      local l = tls.listen("127.0.0.1", 0, SERVER)
      loom.with_group(function(g)
        g:spawn(function()
          local s <close> = l:accept()
          local e = catch(s.handshake, s)
          assert.is_true(is_etls(e, "handshake"), tostring(e))
          assert.matches("unknown ca", e.message)
        end)
        local r = loom.process.run{ "python3", py, path("other_ca.pem"),
                                    tostring(l.port) }
        assert.equal("unable to get local issuer certificate\n", r.stdout)
      end)
      l:close()
    end))
  end)

  it("examples/15_tls_echo.lua runs", function()
    local status, out = S.run_lua(
      'arg = {}; dofile("examples/15_tls_echo.lua")', 20)
    assert.equal(0, status, out)
    assert.matches("client 1: TLSv1%.3, ALPN echo, server CN=localhost", out)
    for i = 1, 3 do
      assert.matches(("client %d got back: client %d, line 2"):format(i, i),
                     out)
    end
    assert.matches("without ca_file: certificate verify failed", out)
    assert.matches("server: a handshake failed: tlsv1 alert unknown ca", out)
    assert.matches("server: stopped, every connection finished", out)
  end)

  describe("teardown", function()
    it("closing the Lua state with TLS streams open frees them",
       function()
      local status, out = S.run_lua(([[
        package.path = "./?.lua;" .. package.path
        local loom = require "loom"
        local tls = loom.tls
        local so = { cert_file = %q, key_file = %q }
        local co = { ca_file = %q }
        loom.run(function()
          local l = tls.listen("127.0.0.1", 0, so)
          local c, s
          loom.with_group(function(g)
            g:spawn(function() s = l:accept(); s:handshake() end)
            c = tls.connect("127.0.0.1", l.port, co)
          end)
          c:write("left open")
          _G.keep = { c, s, l }
        end)
        -- A task blocked in a TLS read when the state closes.
        loom.start(function() _G.keep[2]:read_exactly(100) end)
        loom.run(function() loom.sleep(0.01) end)
        print("closing")
      ]]):format(path("srv.pem"), path("srv.key"), path("ca.pem")), 20)
      assert.equal(0, status, out)
      assert.matches("closing", out)
      assert.is_nil(out:find("AddressSanitizer", 1, true), out)
    end)
  end)

  describe("loom.tree and TLS waits", function()

    it("a blocked TLS read says tls read", TS.async(function()
      local c, s = TS.pair()
      local seen
      loom.with_group(function(g)
        g:spawn(function() s:read() end).name = "tls reader"
        loom.sleep(0.02)
        local function find(n)
          if n.name == "tls reader" then return n end
          for _, k in ipairs(n.children) do
            local f = find(k)
            if f then return f end
          end
        end
        seen = find(loom.tree()).waiting
        g:cancel()
      end)
      c:close()
      s:close()
      assert.equal("tls read", seen)
    end))
  end)

  describe("TLS streams and io's conventions", function()

    it("write several values; read formats; read_all; lines",
      TS.async(function()
        local c, s = TS.pair()
        c:write("one\n", 2, "\n", "three\r\nrest")
        c:shutdown()
        assert.equal("one\n", s:read("L"))
        assert.equal("2", s:read("l"))
        local got = {}
        for line in s:lines() do got[#got + 1] = line end
        assert.same({ "three", "rest" }, got)
        assert.equal("", s:read_all())
        c:close()
        s:close()
      end))
  end)

  describe("TLS streams: is_closed", function()
    it("is false while open, true once closed", TS.async(function()
      local c, s = TS.pair()
      assert.is_false(c:is_closed())
      c:close()
      assert.is_true(c:is_closed())
      s:close()
      assert.is_true(s:is_closed())
    end))
  end)
end)
