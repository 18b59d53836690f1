-- Regression 10, item 9 (read conditions): read_exactly(n) reserved n bytes
-- before any data arrived, so s:read_exactly(2^40) failed with "out of
-- memory" (and a large n cost n bytes of address space at once). The
-- buffer now grows as the bytes come (csrc/io/rbuf.c, "Growth").
local loom = require "loom"
local IO = require "spec.io_support"

local async, tcp_pair = IO.async, IO.tcp_pair

-- This process's virtual memory size, in KiB (/proc/self/status).
local function vm_kib()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmSize:%s*(%d+)"))
end

describe("regression 10: read_exactly grows its buffer as data comes",
         function()
  it("read_exactly(2^40) on a stream that ends returns nil promptly",
     async(function()
    local c, s = tcp_pair()
    c:write("abc")
    c:shutdown()
    local t0 = loom.now()
    local ok, r = pcall(s.read_exactly, s, 2^40)
    assert.is_true(ok, tostring(r))      -- no "out of memory"
    assert.is_nil(r)
    assert.is_true(loom.now() - t0 < 1)
    assert.equal("abc", s:read())         -- what came stays buffered
    assert.is_nil(s:read())
    c:close(); s:close()
  end))

  it("reserves no memory for bytes that have not come", async(function()
    local c, s = tcp_pair()
    local before, during
    loom.with_group(function(g)
      g:spawn(function()
        c:write(string.rep("x", 100))
        loom.sleep(0.05)
        during = vm_kib()
        c:shutdown()
      end)
      before = vm_kib()
      assert.is_nil(s:read_exactly(2^30))    -- 1 GiB asked, 100 bytes come
    end)
    -- A 1 GiB reservation would show as about 1048576 KiB more.
    assert.is_true(during - before < 256 * 1024,
                   ("VmSize grew by %d KiB"):format(during - before))
    assert.equal(100, #s:read())
    c:close(); s:close()
  end))

  it("still reads a count larger than the buffer, in pieces",
     async(function()
    local c, s = tcp_pair()
    local n = 3 * 1024 * 1024 + 7
    loom.with_group(function(g)
      g:spawn(function()
        local piece = string.rep("y", 100000)
        local sent = 0
        while sent < n do
          local k = math.min(#piece, n - sent)
          c:write(piece:sub(1, k))
          sent = sent + k
        end
        c:write("tail")
      end)
      local r = s:read_exactly(n)
      assert.equal(n, #r)
      assert.equal(string.rep("y", n), r)
      assert.equal("tail", s:read_exactly(4))
    end)
    c:close(); s:close()
  end))

  it("a cancelled huge read_exactly keeps what arrived", async(function()
    local c, s = tcp_pair()
    c:write("partial")
    local r = loom.move_on_after(0.05, function()
      return s:read_exactly(2^40)
    end)
    assert.is_nil(r)
    assert.equal("partial", s:read())
    c:close(); s:close()
  end))
end)
