-- loom.tcp.listen's options (README, "Using every core"): reuseport lets
-- several listeners (loops, processes) accept on one port, and the kernel
-- spreads connections among them; without it a second bind is EADDRINUSE;
-- backlog bounds the queue of connections nobody accepted yet. And
-- examples/14_multicore_server.lua: worker processes sharing one port.
local loom = require "loom"
local S = require "spec.support"

local HOST = "127.0.0.1"

-- The IOError raised by f(...).
local function ioerror(code, f, ...)
  local e = S.catch(f, ...)
  assert.is_true(loom.IOError:is(e), tostring(e))
  assert.equal(code, e.code)
  return e
end

-- Accept forever on 'l', counting into counts[key].
local function count_accepts(g, l, counts, key)
  g:spawn(function()
    while true do
      local s = l:accept()
      counts[key] = (counts[key] or 0) + 1
      s:close()
    end
  end)
end

describe("loom.tcp.listen opts.reuseport", function()
  it("lets two listeners share a port; connections reach both",
    S.async(function()
      local a = loom.tcp.listen(HOST, 0, { reuseport = true })
      local b = loom.tcp.listen(HOST, a.port, { reuseport = true })
      assert.equal(a.port, b.port)
      local counts = {}
      loom.with_group(function(g)
        count_accepts(g, a, counts, "a")
        count_accepts(g, b, counts, "b")
        for _ = 1, 64 do
          local c = loom.tcp.connect(HOST, a.port)
          assert.is_nil(c:read())      -- the acceptor closed it
          c:close()
        end
        g:cancel()
      end)
      a:close()
      b:close()
      assert.equal(64, (counts.a or 0) + (counts.b or 0))
      assert.is_true((counts.a or 0) > 0 and (counts.b or 0) > 0,
                     ("a %d, b %d"):format(counts.a or 0, counts.b or 0))
    end))

  it("works with a name and with IPv6", S.async(function()
    local a = loom.tcp.listen("localhost", 0, { reuseport = true })
    local b = loom.tcp.listen("localhost", a.port, { reuseport = true })
    a:close()
    b:close()
    local ok, c = pcall(loom.tcp.listen, "::1", 0, { reuseport = true })
    if ok then c:close() end   -- a host without IPv6 may refuse ::1
  end))

  it("without it on either side, a second bind is EADDRINUSE",
    S.async(function()
      local a = loom.tcp.listen(HOST, 0)
      ioerror("EADDRINUSE", loom.tcp.listen, HOST, a.port)
      ioerror("EADDRINUSE", loom.tcp.listen, HOST, a.port,
              { reuseport = true })
      a:close()
      local b = loom.tcp.listen(HOST, 0, { reuseport = true })
      ioerror("EADDRINUSE", loom.tcp.listen, HOST, b.port)
      ioerror("EADDRINUSE", loom.tcp.listen, HOST, b.port,
              { reuseport = false })
      b:close()
    end))

  it("must be a boolean", S.async(function()
    local e = S.catch(loom.tcp.listen, HOST, 0, { reuseport = 1 })
    assert.matches("opts.reuseport must be a boolean", e, 1, true)
  end))
end)

describe("loom.tcp.listen opts.backlog", function()
  -- Connect 'n' clients to a listener nobody accepts from; how many
  -- connections completed within 'secs'.
  local function connected(port, n, secs)
    local done = 0
    local streams = {}
    loom.with_group(function(g)
      for i = 1, n do
        g:spawn(function()
          loom.move_on_after(secs, function()
            streams[i] = loom.tcp.connect(HOST, port)
            done = done + 1
          end)
        end)
      end
    end)
    for _, s in pairs(streams) do s:close() end
    return done
  end

  it("bounds the connections waiting to be accepted", S.async(function()
    local small = loom.tcp.listen(HOST, 0, { backlog = 1 })
    local got = connected(small.port, 12, 0.3)
    small:close()
    assert.is_true(got >= 1 and got < 12,
                   got .. " of 12 connected with backlog 1")
    local big = loom.tcp.listen(HOST, 0, { backlog = 64 })
    assert.equal(12, connected(big.port, 12, 2))
    big:close()
  end))

  it("must be a positive integer", S.async(function()
    for _, bad in ipairs { 0, -5, 1.5, "8", true } do
      local e = S.catch(loom.tcp.listen, HOST, 0, { backlog = bad })
      assert.matches("opts.backlog must be a positive integer", e, 1, true)
    end
  end))
end)

describe("examples/14_multicore_server.lua", function()
  it("serves concurrent clients from every worker process and stops on "
     .. "Ctrl-C", S.async(function()
    local build = os.getenv("LOOM_BUILD") or "build"
    local n, clients = 3, 120
    local p = loom.process.spawn {
      "env", "LUA_PATH=./lua/?.lua;./lua/?/init.lua;;",
      "LUA_CPATH=./" .. build .. "/?.so;;",
      "lua5.4", "examples/14_multicore_server.lua", "--serve",
      "--workers", tostring(n),
      stdout = "pipe", stderr = "pipe",
    }
    local out = {}
    local port
    loom.timeout(20, function()
      while not port do
        local line = p.stdout:read_line()
        assert(line, "the server ended: " .. table.concat(out, "\n"))
        out[#out + 1] = line
        port = tonumber(line:match("serving on [%d.]+:(%d+)"))
      end
      local per = {}
      loom.with_group(function(g)
        for c = 1, clients do
          g:spawn(function()
            local s = loom.tcp.connect(HOST, port)
            s:write(("client %d\n"):format(c))
            local answer = s:read_line()
            s:close()
            local id = tonumber(answer:match("^worker (%d+): client "
                                             .. c .. "$"))
            assert(id, answer)
            per[id] = (per[id] or 0) + 1
          end)
        end
      end)
      for id = 1, n do
        assert.is_true((per[id] or 0) > 0,
                       "worker " .. id .. " served no client")
      end
      p:kill("SIGINT")
      for line in function() return p.stdout:read_line() end do
        out[#out + 1] = line
      end
      local code = p:wait()
      local text = table.concat(out, "\n")
      assert.equal(0, code, text .. (p.stderr:read(65536) or ""))
      local total = 0
      for id = 1, n do
        local k = tonumber(text:match("worker " .. id
                                      .. ": stopped after serving (%d+)"))
        assert(k and k > 0, text)
        assert.equal(per[id], k)
        total = total + k
      end
      assert.equal(clients, total)
      assert.matches("parent: every worker has stopped", text)
    end)
    p.stdout:close()
    p.stderr:close()
  end))
end)
