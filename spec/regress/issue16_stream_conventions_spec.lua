-- Regression (issue 16): Lua's io conventions on streams. s:write("a", "b")
-- sent only "a" (data silently dropped); s:read had no formats and there
-- was no s:lines(). Now several values are written in order as one write,
-- s:read takes "l", "L", "a" (and "*l"...), s:read_all and
-- s:read_line{keep = true} exist, and s:lines() iterates.
local loom = require "loom"
local S = require "spec.support"

-- A connected TCP pair: client, server side.
local function pair(l)
  local c = loom.tcp.connect("127.0.0.1", l.port)
  return c, l:accept()
end

local function with_pair(fn)
  return S.async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local c, s = pair(l)
    l:close()
    fn(c, s)
    c:close()
    s:close()
  end)
end

describe("s:write with several values", function()
  it("writes every string and number, in order", with_pair(function(c, s)
    assert.equal(c, c:write("a", "b", 3, 4.5, "", "z"))
    c:shutdown()
    assert.equal("ab34.5z", s:read_all())
  end))

  it("rejects a non-string value before writing anything",
    with_pair(function(c, s)
      local e = S.catch(function() c:write("a", {}, "b") end)
      assert.matches("bad argument #2 to 'write' %(string expected, got "
                     .. "table%)", e)
      assert.matches("issue16_stream_conventions_spec", e)
      c:write("ok")
      c:shutdown()
      assert.equal("ok", s:read_all())
    end))

  it("one value still works, as before", with_pair(function(c, s)
    c:write("x")
    assert.equal("x", s:read())
  end))
end)

describe("s:read formats", function()
  it("l, L, *l, *L and a number", with_pair(function(c, s)
    c:write("one\r\ntwo\nthree\nfour\nfive\n", "tail")
    c:shutdown()
    assert.equal("one\r\n", s:read("L"))
    assert.equal("two", s:read("l"))
    assert.equal("three", s:read("*l"))
    assert.equal("four\n", s:read("*L"))
    assert.equal("fi", s:read(2))
    assert.equal("ve", s:read("l"))
    assert.equal("tail", s:read("l"))        -- the last line, no newline
    assert.is_nil(s:read("l"))
    assert.is_nil(s:read("L"))
    assert.equal("", s:read("a"))           -- as io.read("a") at the end
    assert.is_nil(s:read())
  end))

  it("a and read_all wait for the end of the stream", with_pair(function(c, s)
    local got
    loom.with_group(function(g)
      g:spawn(function() got = s:read("a") end)
      c:write("part 1, ")
      loom.sleep(0.02)
      assert.is_nil(got)                    -- not yet: no end of stream
      c:write("part 2")
      c:shutdown()
    end)
    assert.equal("part 1, part 2", got)
  end))

  it("a cancelled read_all loses nothing", with_pair(function(c, s)
    c:write("kept")
    loom.move_on_after(0.05, function() s:read_all() end)
    c:write(" and more")
    c:shutdown()
    assert.equal("kept and more", s:read_all())
  end))

  it("read_line{ keep = true } keeps the ending", with_pair(function(c, s)
    c:write("a\nb\r\nc")
    c:shutdown()
    assert.equal("a\n", s:read_line{ keep = true })
    assert.equal("b\r\n", s:read_line{ keep = true })
    assert.equal("c", s:read_line{ keep = true })
    assert.is_nil(s:read_line{ keep = true })
    assert.matches("opts.keep must be a boolean",
                   S.catch(s.read_line, s, { keep = 1 }))
  end))

  it("a bad format or a second format is an argument error",
    with_pair(function(_, s)
      assert.matches("bad argument #1 to 'read' %(number expected, got "
                     .. "string 'x' %(or a format: \"l\", \"L\", \"a\"%)%)",
                     S.catch(s.read, s, "x"))
      assert.matches("bad argument #2 to 'read' %(one format per call%)",
                     S.catch(s.read, s, "l", "l"))
      assert.matches("bad argument #1 to 'read' %(number expected, got "
                     .. "table", S.catch(s.read, s, {}))
    end))
end)

describe("s:lines()", function()
  it("iterates the lines, then ends; L and numbers too",
    with_pair(function(c, s)
      c:write("x\ny\n\nz")
      c:shutdown()
      local got = {}
      for line in s:lines() do got[#got + 1] = line end
      assert.same({ "x", "y", "", "z" }, got)
    end))

  it("with L keeps endings; with a number reads chunks",
    with_pair(function(c, s)
      c:write("p\nq\n")
      local got = {}
      local n = 0
      for line in s:lines("L") do
        got[#got + 1] = line
        n = n + 1
        if n == 2 then break end
      end
      assert.same({ "p\n", "q\n" }, got)
      c:write("abcdef")
      c:shutdown()
      local chunks = {}
      for chunk in s:lines(4) do chunks[#chunks + 1] = chunk end
      assert.equal("abcdef", table.concat(chunks))
      for _, ch in ipairs(chunks) do assert.is_true(#ch <= 4) end
    end))

  it("refuses a, which has no end of lines", with_pair(function(_, s)
    assert.matches("format 'a' has no end of lines",
                   S.catch(s.lines, s, "a"))
  end))

  it("works on a process's pipes", S.async(function()
    local p = loom.process.spawn{ "printf", "1\\n2\\n3\\n", stdout = "pipe" }
    local got = {}
    for line in p.stdout:lines() do got[#got + 1] = line end
    p:wait()
    p.stdout:close()
    assert.same({ "1", "2", "3" }, got)
  end))
end)
