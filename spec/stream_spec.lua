-- Streams (lua/loom/stream.lua, csrc/stream.c): the receive buffer, reads,
-- writes, shutdown, close, and cancellation of every blocking call. The
-- streams here are TCP over 127.0.0.1; pipe_spec and process_spec cover the
-- other kinds.
local loom = require "loom"
local testing = require "loom.testing"
local S = require "spec.support"
local IO = require "spec.io_support"

local async, tcp_pair = IO.async, IO.tcp_pair

describe("Stream:read", function()
  it("returns what has arrived, at most max bytes", async(function()
    local c, s = tcp_pair()
    c:write("hello world")
    assert.equal("hello", s:read(5))
    assert.equal(" world", s:read())
    c:close(); s:close()
  end))

  it("waits until something arrives", async(function()
    local c, s = tcp_pair()
    loom.with_group(function(g)
      g:spawn(function() loom.sleep(0.05); c:write("late") end)
      local t0 = loom.now()
      assert.equal("late", s:read())
      assert.is_true(loom.now() - t0 >= 0.05)
    end)
    c:close(); s:close()
  end))

  it("returns nil at end of stream, and keeps returning nil", async(function()
    local c, s = tcp_pair()
    c:write("last")
    c:close()
    assert.equal("last", s:read())
    assert.is_nil(s:read())
    assert.is_nil(s:read())
    assert.is_nil(s:read_line())
    assert.is_nil(s:read_exactly(1))
    s:close()
  end))

  it("rejects a max below 1", async(function()
    local c, s = tcp_pair()
    assert.matches("max must be at least 1", S.catch(s.read, s, 0))
    c:close(); s:close()
  end))

  it("stops reading when the buffer is full and nobody reads (backpressure)",
     async(function()
    local c, s = tcp_pair()
    local chunk = string.rep("x", 65536)
    local total, n = 256 * #chunk, 0
    local writer_done = false
    loom.with_group(function(g)
      g:spawn(function()
        for _ = 1, 256 do s:write(chunk) end
        writer_done = true
      end)
      assert.equal(10, #c:read(10))   -- reading starts, then nobody reads
      loom.sleep(0.2)
      assert.is_false(writer_done)    -- 16 MB do not fit anywhere
      n = 10
      while n < total do n = n + #c:read() end
    end)
    assert.is_true(writer_done)
    assert.equal(total, n)
    c:close(); s:close()
  end))

  it("raises 'another task' when two tasks read at once", async(function()
    local c, s = tcp_pair()
    loom.with_group(function(g)
      g:spawn(function() s:read() end)
      loom.sleep(0.01)
      assert.matches("another task", S.catch(s.read, s))
      c:write("x")
    end)
    c:close(); s:close()
  end))
end)

describe("Stream:read_exactly", function()
  it("gathers exactly n bytes across writes", async(function()
    local c, s = tcp_pair()
    loom.with_group(function(g)
      g:spawn(function()
        for _, part in ipairs { "ab", "cd", "efgh" } do
          c:write(part)
          loom.sleep(0.01)
        end
      end)
      assert.equal("abc", s:read_exactly(3))
      assert.equal("defgh", s:read_exactly(5))
    end)
    assert.equal("", s:read_exactly(0))
    c:close(); s:close()
  end))

  it("reads more than the buffer holds", async(function()
    local c, s = tcp_pair()
    local big = string.rep("0123456789abcdef", 20000)   -- 320 000 bytes
    loom.with_group(function(g)
      g:spawn(function() c:write(big) end)
      assert.equal(big, s:read_exactly(#big))
    end)
    c:close(); s:close()
  end))

  it("returns nil when the stream ends first, keeping the bytes",
     async(function()
    local c, s = tcp_pair()
    c:write("abc")
    c:close()
    assert.is_nil(s:read_exactly(5))
    assert.equal("abc", s:read())
    assert.is_nil(s:read())
    s:close()
  end))

  it("rejects a negative count", async(function()
    local c, s = tcp_pair()
    assert.matches("negative", S.catch(s.read_exactly, s, -1))
    c:close(); s:close()
  end))
end)

describe("Stream:read_line", function()
  it("returns lines without their newline", async(function()
    local c, s = tcp_pair()
    c:write("one\n\ntwo\r\nthr")
    loom.with_group(function(g)
      g:spawn(function() loom.sleep(0.02); c:write("ee\nlast") ; c:close() end)
      assert.equal("one", s:read_line())
      assert.equal("", s:read_line())
      assert.equal("two", s:read_line())
      assert.equal("three", s:read_line())
      assert.equal("last", s:read_line())
      assert.is_nil(s:read_line())
      assert.is_nil(s:read_line())
    end)
    s:close()
  end))

  it("reads a line longer than the buffer", async(function()
    local c, s = tcp_pair()
    local long = string.rep("z", 200000)
    loom.with_group(function(g)
      g:spawn(function() c:write(long .. "\nnext\n") end)
      assert.equal(long, s:read_line())
      assert.equal("next", s:read_line())
    end)
    c:close(); s:close()
  end))
end)

describe("cancelling a read", function()
  it("while blocked loses nothing", async(function()
    local c, s = tcp_pair()
    local r = loom.move_on_after(0.05, function() return s:read() end)
    assert.is_nil(r)
    c:write("kept")
    assert.equal("kept", s:read())
    c:close(); s:close()
  end))

  it("while blocked in read_exactly keeps the partial bytes",
     async(function()
    local c, s = tcp_pair()
    c:write("par")
    local ok, e = pcall(loom.timeout, 0.05, function()
      return s:read_exactly(6)
    end)
    assert.is_false(ok)
    assert.is_true(loom.TimeoutError:is(e))
    c:write("tial")
    assert.equal("partia", s:read_exactly(6))
    assert.equal("l", s:read())
    c:close(); s:close()
  end))

  it("while blocked in read_line keeps the partial line", async(function()
    local c, s = tcp_pair()
    c:write("half")
    assert.is_nil(loom.move_on_after(0.05, function()
      return s:read_line()
    end))
    c:write(" line\n")
    assert.equal("half line", s:read_line())
    c:close(); s:close()
  end))

  it("at the moment data arrives loses nothing", async(function()
    -- The reader is woken by the data and cancelled before it runs (the
    -- canceller runs first in the same pass) or just after: either the read
    -- returns the data or the data stays buffered.
    for delay = 0, 4 do
      local c, s = tcp_pair()
      local got = {}
      local reader
      loom.with_group(function(g)
        reader = g:spawn(function()
          got[#got + 1] = s:read()
          loom.sleep(10)
        end)
        loom.sleep(0.01)
        c:write("data")
        for _ = 1, delay do loom.checkpoint() end
        reader:cancel()
      end)
      assert.equal("cancelled", reader.status)
      local rest = loom.move_on_after(0.02, function() return s:read() end)
      assert.equal("data", (got[1] or "") .. (rest or ""))
      c:close(); s:close()
    end
  end))

  it("with an expired deadline raises before reading", async(function()
    local c, s = tcp_pair()
    c:write("stay")
    loom.sleep(0.02)
    local ok, e = pcall(loom.timeout, 0, function() return s:read() end)
    assert.is_false(ok)
    assert.is_true(loom.TimeoutError:is(e))
    assert.equal("stay", s:read())
    c:close(); s:close()
  end))

  it("under a shield goes on", async(function()
    local c, s = tcp_pair()
    local got
    loom.scope(function(sc)
      sc:cancel()
      loom.shield(function()
        loom.with_group(function(g)
          g:spawn(function() loom.sleep(0.03); c:write("shielded") end)
          got = s:read()
        end)
      end)
    end)
    assert.equal("shielded", got)
    c:close(); s:close()
  end))
end)

describe("Stream:write", function()
  it("returns the stream and delivers in order", async(function()
    local c, s = tcp_pair()
    assert.equal(c, c:write("a"))
    c:write(""):write("b"):write(string.rep("c", 100000))
    c:close()
    local parts = {}
    while true do
      local d = s:read()
      if not d then break end
      parts[#parts + 1] = d
    end
    assert.equal("ab" .. string.rep("c", 100000), table.concat(parts))
    s:close()
  end))

  it("waits while the peer does not read (backpressure)", async(function()
    local c, s = tcp_pair()
    local big = string.rep("w", 16 * 1024 * 1024)
    local done = false
    loom.with_group(function(g)
      g:spawn(function() c:write(big); done = true end)
      loom.sleep(0.1)
      assert.is_false(done)
      assert.equal(#big, #s:read_exactly(#big))
    end)
    assert.is_true(done)
    c:close(); s:close()
  end))

  it("cancelled while blocked raises Cancelled at once and closes the "
     .. "stream", async(function()
    local c, s = tcp_pair()
    local big = string.rep("w", 16 * 1024 * 1024)
    local t
    loom.with_group(function(g)
      t = g:spawn(function() c:write(big) end)
      loom.sleep(0.1)
      assert.equal("running", t.status)    -- blocked: the peer reads not
      local t0 = loom.now()
      t:cancel()
      loom.sleep(0)
      assert.is_true(loom.now() - t0 < 0.1)
    end)
    assert.equal("cancelled", t.status)
    -- An unknown part of the data went out: the stream is unusable.
    assert.matches("closed", S.catch(c.write, c, "more"))
    assert.matches("closed", S.catch(c.read, c))
    assert.matches("closed", tostring(c))
    -- The peer sees what was sent, then the end of the stream.
    local n = 0
    while true do
      local d = loom.move_on_after(2, function() return s:read() end)
      if d == nil then break end
      n = n + #d
    end
    assert.is_true(n < #big)
    s:close()
  end))

  it("to a peer that never reads is stopped by a timeout in bounded time",
     async(function()
    local c, s = tcp_pair()
    local big = string.rep("t", 64 * 1024 * 1024)
    local t0 = loom.now()
    local e = S.catch(loom.timeout, 0.2, function() c:write(big) end)
    local dt = loom.now() - t0
    assert.is_true(loom.TimeoutError:is(e), tostring(e))
    assert.is_true(dt >= 0.2, "fired early: " .. dt)
    assert.is_true(dt < 0.5, "fired late: " .. dt)
    assert.matches("closed", S.catch(c.write, c, "x"))
    assert.matches("closed", S.catch(c.read_line, c))
    s:close()
  end))

  it("cancelled wakes the other tasks blocked on the stream with 'closed'",
     async(function()
    local c, s = tcp_pair()
    local big = string.rep("w", 16 * 1024 * 1024)
    local rerr, werr, serr
    loom.with_group(function(g)
      local writer = g:spawn(function() c:write(big) end)
      g:spawn(function() rerr = S.catch(c.read, c) end)
      g:spawn(function() werr = S.catch(c.write, c, "second") end)
      g:spawn(function() serr = S.catch(c.shutdown, c) end)
      loom.sleep(0.1)
      writer:cancel()
    end)
    assert.matches("closed", tostring(rerr))
    assert.matches("closed", tostring(werr))
    assert.matches("closed", tostring(serr))
    s:close()
  end))

  it("at the moment it completes returns normally, then raises at the next "
     .. "checkpoint", async(function()
    local c, s = tcp_pair()
    local big = string.rep("m", 8 * 1024 * 1024)
    local rec = S.recorder()
    local scope
    loom.with_group(function(g)
      g:spawn(function()
        loom.scope(function(sc)
          scope = sc
          c:write(big)
          rec("write returned")
          local e = S.catch(loom.sleep, 10)
          rec(loom.is_cancelled(e) and "cancelled after" or tostring(e))
        end)
      end)
      loom.sleep(0.05)
      -- Read until the write completes: its callback wakes the writer,
      -- the only other task, which is then ready but not resumed; cancel
      -- it in that pass (or after it ran, if the callback came first).
      local got = 0
      while got < #big and #rec.list == 0 and testing.stats().ready_empty do
        got = got + #s:read(65536)
      end
      while #rec.list == 0 and testing.stats().ready_empty do
        loom.sleep(0)
      end
      scope:cancel()
      while got < #big do got = got + #s:read() end
    end)
    assert.same({ "write returned", "cancelled after" }, rec.list)
    c:write("still open")                  -- the stream is usable
    assert.equal("still open", s:read())
    c:close(); s:close()
  end))

  it("with an expired deadline writes nothing", async(function()
    local c, s = tcp_pair()
    local ok, e = pcall(loom.timeout, 0, function() c:write("no") end)
    assert.is_false(ok)
    assert.is_true(loom.TimeoutError:is(e))
    c:write("yes")
    assert.equal("yes", s:read())
    c:close(); s:close()
  end))

  it("under a shield goes on", async(function()
    local c, s = tcp_pair()
    loom.scope(function(sc)
      sc:cancel()
      loom.shield(function() c:write("shielded") end)
    end)
    assert.equal("shielded", s:read())
    c:close(); s:close()
  end))

  it("to a peer that has gone raises IOError, not SIGPIPE", async(function()
    local c, s = tcp_pair()
    s:close()
    loom.sleep(0.02)
    local e = S.catch(function()
      for _ = 1, 100 do c:write(string.rep("p", 65536)); loom.sleep(0.001) end
    end)
    assert.is_true(loom.IOError:is(e))
    assert.is_true(e.code == "EPIPE" or e.code == "ECONNRESET", e.code)
    assert.equal("write", e.op)
    assert.is_string(e.message)
    c:close()
  end))

  it("requires a string", async(function()
    local c, s = tcp_pair()
    assert.matches("string expected", S.catch(c.write, c, {}))
    c:close(); s:close()
  end))
end)

describe("Stream:shutdown", function()
  it("ends the write side: the peer reads EOF, reading goes on",
     async(function()
    local c, s = tcp_pair()
    c:write("request")
    c:shutdown()
    c:shutdown()                       -- a second call does nothing
    assert.equal("request", s:read())
    assert.is_nil(s:read())
    s:write("reply")
    s:close()
    assert.equal("reply", c:read())
    assert.is_nil(c:read())
    c:close()
  end))

  it("cancelled while it waits behind a write closes the stream",
     async(function()
    local c, s = tcp_pair()
    local big = string.rep("w", 16 * 1024 * 1024)
    local werr, shutter
    loom.with_group(function(g)
      g:spawn(function() werr = S.catch(c.write, c, big) end)
      loom.sleep(0.05)
      shutter = g:spawn(function() c:shutdown() end)
      loom.sleep(0.05)
      assert.equal("running", shutter.status)  -- the write is not out
      shutter:cancel()
    end)
    assert.equal("cancelled", shutter.status)
    assert.matches("closed", tostring(werr))
    assert.matches("closed", S.catch(c.read, c))
    s:close()
  end))

  it("after the write side is shut, write raises IOError", async(function()
    local c, s = tcp_pair()
    c:shutdown()
    local e = S.catch(c.write, c, "late")
    assert.is_true(loom.IOError:is(e))
    c:close(); s:close()
  end))
end)

describe("Stream:close", function()
  it("is idempotent and later calls raise 'closed'", async(function()
    local c, s = tcp_pair()
    c:close()
    c:close()
    assert.matches("closed", S.catch(c.read, c))
    assert.matches("closed", S.catch(c.write, c, "x"))
    assert.matches("closed", S.catch(c.read_line, c))
    assert.matches("closed", S.catch(c.shutdown, c))
    assert.is_nil(s:read())
    s:close()
  end))

  it("wakes a task blocked reading with an error containing 'closed'",
     async(function()
    local c, s = tcp_pair()
    local err
    loom.with_group(function(g)
      g:spawn(function() err = S.catch(s.read, s) end)
      loom.sleep(0.02)
      s:close()
    end)
    assert.matches("closed", tostring(err))
    c:close()
  end))

  it("makes a blocked writer raise 'closed'", async(function()
    local c, s = tcp_pair()
    local err
    loom.with_group(function(g)
      g:spawn(function()
        err = S.catch(c.write, c, string.rep("w", 16 * 1024 * 1024))
      end)
      loom.sleep(0.05)
      c:close()
    end)
    assert.matches("closed", tostring(err))
    s:close()
  end))

  it("happens at the end of a <close> block", async(function()
    local c, s = tcp_pair()
    do
      local cc <close> = c
      cc:write("bye")
    end
    assert.matches("closed", S.catch(c.read, c))
    assert.equal("bye", s:read())
    assert.is_nil(s:read())
    s:close()
  end))

  it("happens when an unclosed stream is collected", async(function()
    local c, s = tcp_pair() -- luacheck: ignore 231 (c = nil drops it)
    c = nil
    collectgarbage()
    collectgarbage()
    assert.is_nil(s:read())
    s:close()
  end))

  it("works outside a task", function()
    local c, s
    loom.run(function() c, s = tcp_pair() end)
    c:close()
    s:close()
    assert.matches("closed", S.catch(c.read, c))
  end)
end)

describe("Stream misuse", function()
  it("raises 'outside of a loom task' when reading outside a task",
     function()
    local c, s
    loom.run(function() c, s = tcp_pair() end)
    assert.matches("outside of a loom task", S.catch(c.read, c))
    assert.matches("outside of a loom task", S.catch(c.write, c, "x"))
    c:close(); s:close()
  end)

  it("raises 'nested coroutine' from a coroutine inside a task",
     async(function()
    local c, s = tcp_pair()
    local co = coroutine.wrap(function() return S.catch(c.read, c) end)
    assert.matches("nested coroutine", co())
    c:close(); s:close()
  end))

  it("names the expected type for a wrong self", async(function()
    local c, s = tcp_pair()
    assert.matches("loom.Stream expected", S.catch(c.read, {}))
    c:close(); s:close()
  end))

  it("reports argument errors at the caller's line, counting arguments "
     .. "after self", async(function()
    local c, s = tcp_pair()
    local argerror = IO.argerror
    argerror(function() c:read("x") end,
             "bad argument #1 to 'read' (number expected, got string 'x' "
             .. '(or a format: "l", "L", "a"))')
    argerror(function() c:read(0) end,
             "bad argument #1 to 'read' (max must be at least 1)")
    argerror(function() c:read_exactly(-1) end,
             "bad argument #1 to 'read_exactly' (count must not be negative)")
    argerror(function() c:write({}) end,
             "bad argument #1 to 'write' (string expected, got table)")
    argerror(function() c.write(42, "x") end,
             "bad argument #1 to 'write' (loom.Stream expected, got number)")
    local fake = setmetatable({}, { __index = c })
    argerror(function() fake:read() end,
             "calling 'read' on bad self (loom.Stream expected, got table)")
    local l = loom.tcp.listen("127.0.0.1", 0)
    argerror(function() l:serve(42) end,
             "bad argument #1 to 'serve' (function expected, got number)")
    l:close()
    argerror(function() l:accept() end, "the listener is closed")
    c:close()
    argerror(function() c:read_line() end, "the stream is closed")
    argerror(function() c:write("x") end, "the stream is closed")
    s:close()
  end))
end)

describe("state teardown", function()
  it("closes streams, listeners and pipes left open when the state closes",
     async(function()
    local path = IO.sock_path()
    local r = loom.process.run{ "lua5.4", "-e", ([[
      local loom = require "loom"
      loom.run(function()
        L = loom.tcp.listen("127.0.0.1", 0)
        C = loom.tcp.connect("127.0.0.1", L.port)
        A = L:accept()
        C:write("never read")
        P = loom.pipe.listen(%q)
        Q = loom.pipe.connect(%q)
        X = loom.process.spawn{ "cat", stdin = "pipe", stdout = "pipe" }
        X.stdin:write("x")
      end)
      print("exiting")
    ]]):format(path, path), env = IO.env }
    assert.equal("exiting\n", r.stdout)
    assert.equal("", r.stderr)
    assert.equal(0, r.code)
    assert.is_nil(io.open(path))     -- the socket file went with P
  end))
end)
