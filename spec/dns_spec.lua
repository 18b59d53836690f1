local loom = require "loom"
local S = require "spec.support"
local H = require "spec.threadpool_support"

local dns = loom.dns

local function has(list, addr, family)
  for _, a in ipairs(list) do
    if a.addr == addr and a.family == family then return true end
  end
  return false
end

describe("loom.dns", function()
  local dir, fds, fdnames

  before_each(function()
    fds, fdnames = H.fd_count()
    dir = H.tmpdir()
  end)

  after_each(function()
    H.rmrf(dir)
    H.assert_no_fd_leak(fds, fdnames)
  end)

  describe("dns.getaddrinfo", function()
    it("resolves localhost to loopback addresses", H.async(function()
      local list = dns.getaddrinfo("localhost")
      assert.is_true(#list >= 1)
      assert.is_true(has(list, "127.0.0.1", "inet") or
                     has(list, "::1", "inet6"))
      for _, a in ipairs(list) do
        assert.is_true(a.family == "inet" or a.family == "inet6")
        assert.is_string(a.addr)
        assert.equal(0, a.port)
      end
    end))

    it("returns a numeric IPv4 address as it is", H.async(function()
      assert.same({ { addr = "127.0.0.1", family = "inet", port = 0 } },
                  dns.getaddrinfo("127.0.0.1"))
    end))

    it("returns a numeric IPv6 address as it is", H.async(function()
      assert.same({ { addr = "::1", family = "inet6", port = 0 } },
                  dns.getaddrinfo("::1"))
    end))

    it("copies a numeric port into every entry", H.async(function()
      assert.same({ { addr = "127.0.0.1", family = "inet", port = 8080 } },
                  dns.getaddrinfo("127.0.0.1", 8080))
      assert.equal(53, dns.getaddrinfo("127.0.0.1", "53")[1].port)
      for _, a in ipairs(dns.getaddrinfo("localhost", 65535)) do
        assert.equal(65535, a.port)
      end
    end))

    it("lists each address once", H.async(function()
      local seen = {}
      for _, a in ipairs(dns.getaddrinfo("localhost", 80)) do
        local k = a.family .. " " .. a.addr
        assert.is_nil(seen[k], "duplicate " .. k)
        seen[k] = true
      end
    end))

    it("raises an IOError for a name that does not exist", H.async(function()
      local e = S.catch(dns.getaddrinfo, "no-such-host.invalid")
      assert.is_true(loom.IOError:is(e), tostring(e))
      assert.matches("^EAI_", e.code)
      assert.equal("getaddrinfo", e.op)
      assert.matches("no-such-host.invalid", e.message, 1, true)
      assert.matches("no%-such%-host%.invalid", tostring(e))
    end))

    it("rejects bad arguments at once", H.async(function()
      for _, args in ipairs { { nil }, { {} }, { "localhost", -1 },
                              { "localhost", 65536 },
                              { "localhost", "http" },
                              { "localhost", 1.5 } } do
        local e = S.catch(dns.getaddrinfo, table.unpack(args, 1, 2))
        assert.is_false(loom.IOError:is(e))
        assert.matches("bad argument", tostring(e))
      end
    end))

    it("reports argument errors at the caller's line", H.async(function()
      H.argerror(function() dns.getaddrinfo("localhost", "http") end,
                 "bad argument #2 to 'getaddrinfo' (integer port expected, "
                 .. "got string)")
      H.argerror(function() dns.getaddrinfo({}) end,
                 "bad argument #1 to 'getaddrinfo' (string expected, got "
                 .. "table)")
    end))

    it("raises \"outside of a loom task\" outside a task", function()
      assert.matches("outside of a loom task",
                     tostring(S.catch(dns.getaddrinfo, "localhost")))
    end)

    describe("cancelled", function()
      it("while blocked returns at once", H.async(function()
        local t0, dt
        H.with_clogged_pool(dir, function()
          t0 = loom.now()
          local r = table.pack(loom.move_on_after(0.05, function()
            return dns.getaddrinfo("localhost")
          end))
          dt = loom.now() - t0
          assert.equal(0, r.n)
        end)
        assert.is_true(dt >= 0.05, "returned early")
        assert.is_true(dt < 0.6, "returned late: " .. dt)
        -- The lookups still work afterwards.
        assert.is_true(#dns.getaddrinfo("127.0.0.1") == 1)
      end))

      it("at the moment it completes keeps the result", H.async(function()
        local out = H.cancel_at_completion(function()
          return dns.getaddrinfo("127.0.0.1", 7)
        end)
        assert.is_true(out.ok, tostring(out.err))
        assert.same({ { addr = "127.0.0.1", family = "inet", port = 7 } },
                    out.result[1])
        assert.is_true(loom.is_cancelled(out.after))
      end))

      it("with an expired deadline", H.async(function()
        local e = S.catch(loom.timeout, 0, function()
          return dns.getaddrinfo("localhost")
        end)
        assert.is_true(loom.TimeoutError:is(e), tostring(e))
      end))

      it("under a shield completes", H.async(function()
        local r, after
        loom.scope(function(s)
          s:cancel()
          r = loom.shield(function() return dns.getaddrinfo("127.0.0.1") end)
          after = S.catch(loom.checkpoint)
        end)
        assert.equal("127.0.0.1", r[1].addr)
        assert.is_true(loom.is_cancelled(after))
      end))

      it("many lookups abandoned at once leave nothing behind",
        H.async(function()
          loom.with_group(function(g)
            for i = 1, 20 do
              g:spawn(function()
                loom.move_on_after(0.001 * (i % 3), function()
                  dns.getaddrinfo(i % 2 == 0 and "localhost" or "127.0.0.1")
                end)
              end)
            end
          end)
        end))
    end)
  end)
end)
