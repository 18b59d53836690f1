-- Regression 10, item 9 (read conditions): read_line had no bound, so a
-- peer sending a long line without a newline made the reader buffer
-- without limit. s:read_line{max = n} raises IOError ELINETOOLONG once
-- more than n bytes have come without a newline; the bytes stay buffered.
local loom = require "loom"
local S = require "spec.support"
local IO = require "spec.io_support"

local async, tcp_pair = IO.async, IO.tcp_pair

local function too_long(e)
  return loom.IOError:is(e) and e.code == "ELINETOOLONG" and e.op == "read"
end

describe("regression 10: read_line{max = n}", function()
  it("raises on a 10 MiB line with max = 1024, without buffering it",
     async(function()
    local c, s = tcp_pair()
    local e
    loom.with_group(function(g)
      local w = g:spawn(function()
        pcall(c.write, c, string.rep("x", 10 * 1024 * 1024) .. "\n")
      end)
      e = S.catch(s.read_line, s, { max = 1024 })
      assert.is_true(too_long(e), tostring(e))
      assert.matches("1024", e.message)
      -- Still too long, and the bytes are still there.
      assert.is_true(too_long(S.catch(s.read_line, s, { max = 1024 })))
      local buffered = s:read()
      assert.is_true(#buffered > 1024)
      assert.is_true(#buffered <= 65536, "buffered " .. #buffered)
      assert.equal(string.rep("x", #buffered), buffered)
      w:cancel()
    end)
    c:close(); s:close()
  end))

  it("accepts lines up to max bytes, the line ending not counted",
     async(function()
    local c, s = tcp_pair()
    c:write("12345\n1234\r\n\n123456\nnext\n")
    assert.equal("12345", s:read_line{ max = 5 })
    assert.equal("1234", s:read_line{ max = 4 })
    assert.equal("", s:read_line{ max = 0 })
    assert.is_true(too_long(S.catch(s.read_line, s, { max = 5 })))
    assert.equal("123456", s:read_line())   -- without max: no bound
    assert.equal("next", s:read_line{})
    c:close(); s:close()
  end))

  it("waits for more while a partial line is within max", async(function()
    local c, s = tcp_pair()
    loom.with_group(function(g)
      g:spawn(function()
        c:write("abc")
        loom.sleep(0.02)
        c:write("\r")             -- may be the start of "\r\n"
        loom.sleep(0.02)
        c:write("\nrest")
      end)
      assert.equal("abc", s:read_line{ max = 3 })
    end)
    c:close()
    assert.equal("rest", s:read_line{ max = 4 })
    assert.is_nil(s:read_line{ max = 4 })
    s:close()
  end))

  it("applies to the last line at end of stream", async(function()
    local c, s = tcp_pair()
    c:write("toolong")
    c:close()
    assert.is_true(too_long(S.catch(s.read_line, s, { max = 3 })))
    assert.equal("toolong", s:read_line())
    s:close()
  end))

  it("rejects a bad max", async(function()
    local c, s = tcp_pair()
    c:write("a\nb\n")    -- an implementation that ignores max returns
    assert.matches("opts.max", S.catch(s.read_line, s, { max = -1 }))
    assert.matches("table expected", S.catch(s.read_line, s, 5))
    c:close(); s:close()
  end))
end)
