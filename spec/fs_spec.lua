local loom = require "loom"
local S = require "spec.support"
local H = require "spec.threadpool_support"

local fs = loom.fs

-- Every byte value once, and a few MB of varied binary data.
local BYTES do
  local t = {}
  for i = 0, 255 do t[#t + 1] = string.char(i) end
  BYTES = table.concat(t)
end
local function big_data()
  local t = {}
  for i = 1, 3 * 4096 + 7 do         -- ~3 MB, not a multiple of 256
    t[i] = BYTES:sub(i % 256 + 1) .. BYTES:sub(1, i % 256)
  end
  return table.concat(t)
end

-- The IOError raised by f(...): checks its class, code and op.
local function ioerror(code, op, f, ...)
  local e = S.catch(f, ...)
  assert.is_true(loom.IOError:is(e), "not an IOError: " .. tostring(e))
  assert.equal(code, e.code)
  assert.equal(op, e.op)
  assert.is_string(e.message)
  return e
end

local function exists(p)
  local ok, st = pcall(fs.stat, p)
  return ok and st ~= nil
end

-- Plain Lua I/O, to check files behind loom's back.
local function slurp(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function spit(p, s)
  local f = assert(io.open(p, "wb"))
  f:write(s)
  f:close()
end

describe("loom.fs", function()
  local dir, fds, fdnames

  before_each(function()
    fds, fdnames = H.fd_count()
    dir = H.tmpdir()
  end)

  after_each(function()
    H.rmrf(dir)
    H.assert_no_fd_leak(fds, fdnames)
  end)

  describe("fs.read_file", function()
    it("returns \"\" for an empty file", H.async(function()
      spit(dir .. "/e", "")
      assert.equal("", fs.read_file(dir .. "/e"))
    end))

    it("round-trips all 256 byte values", H.async(function()
      spit(dir .. "/b", BYTES)
      assert.equal(BYTES, fs.read_file(dir .. "/b"))
    end))

    it("reads a file of a few MB", H.async(function()
      local data = big_data()
      spit(dir .. "/big", data)
      local got = fs.read_file(dir .. "/big")
      assert.equal(#data, #got)
      assert.is_true(data == got)
    end))

    it("raises ENOENT (op open) with the path in the message",
      H.async(function()
        local e = ioerror("ENOENT", "open", fs.read_file, dir .. "/none")
        assert.matches(dir .. "/none", e.message, 1, true)
        assert.equal(dir .. "/none", e.path)
        assert.matches("ENOENT", tostring(e))
      end))

    it("raises EISDIR (op read) for a directory", H.async(function()
      ioerror("EISDIR", "read", fs.read_file, dir)
    end))
  end)

  describe("fs.write_file", function()
    it("creates a file with binary content", H.async(function()
      fs.write_file(dir .. "/w", BYTES)
      assert.equal(BYTES, slurp(dir .. "/w"))
    end))

    it("replaces a longer file's content", H.async(function()
      spit(dir .. "/w", string.rep("z", 1000))
      fs.write_file(dir .. "/w", "short")
      assert.equal("short", slurp(dir .. "/w"))
      fs.write_file(dir .. "/w", "")
      assert.equal("", slurp(dir .. "/w"))
    end))

    it("writes a few MB and reads them back", H.async(function()
      local data = big_data()
      fs.write_file(dir .. "/big", data)
      assert.is_true(fs.read_file(dir .. "/big") == data)
      assert.equal(#data, fs.stat(dir .. "/big").size)
    end))

    it("raises ENOENT when the directory is missing", H.async(function()
      ioerror("ENOENT", "open", fs.write_file, dir .. "/no/x", "a")
    end))

    it("raises EISDIR for a directory", H.async(function()
      ioerror("EISDIR", "open", fs.write_file, dir, "a")
    end))

    it("rejects data that is not a string", H.async(function()
      local e = S.catch(fs.write_file, dir .. "/x", 42)
      assert.matches("string expected", tostring(e))
      assert.is_false(exists(dir .. "/x"))
    end))
  end)

  describe("fs.open", function()
    it("\"r\" fails with ENOENT on a missing file", H.async(function()
      ioerror("ENOENT", "open", fs.open, dir .. "/none", "r")
    end))

    it("defaults to \"r\"", H.async(function()
      spit(dir .. "/f", "abc")
      local f = fs.open(dir .. "/f")
      assert.equal("abc", f:read(10))
      ioerror("EBADF", "write", f.write, f, "x")
      f:close()
    end))

    it("\"w\" creates and truncates", H.async(function()
      spit(dir .. "/f", "old content")
      local f = fs.open(dir .. "/f", "w")
      f:write("new")
      f:close()
      assert.equal("new", slurp(dir .. "/f"))
    end))

    it("\"a\" appends", H.async(function()
      spit(dir .. "/f", "abc")
      local f = fs.open(dir .. "/f", "a")
      f:write("def"):write("gh", 0)      -- append mode: always at the end
      f:close()
      assert.equal("abcdefgh", slurp(dir .. "/f"))
    end))

    it("\"r+\" reads and writes without truncating", H.async(function()
      spit(dir .. "/f", "0123456789")
      local f = fs.open(dir .. "/f", "r+")
      assert.equal("012", f:read(3))
      f:write("ab")
      assert.equal("56", f:read(2))
      f:close()
      assert.equal("012ab56789", slurp(dir .. "/f"))
    end))

    it("\"w+\" truncates and reads back", H.async(function()
      spit(dir .. "/f", "old")
      local f = fs.open(dir .. "/f", "w+")
      assert.is_nil(f:read(10))
      f:write("xyz")
      assert.equal("xyz", f:read(3, 0))
      f:close()
    end))

    it("\"a+\" reads from the start and appends", H.async(function()
      spit(dir .. "/f", "abc")
      local f = fs.open(dir .. "/f", "a+")
      assert.equal("ab", f:read(2))
      f:write("Z")
      assert.equal("c", f:read(1))
      assert.equal("Z", f:read(1))
      f:close()
      assert.equal("abcZ", slurp(dir .. "/f"))
    end))

    it("\"wx\" fails with EEXIST on an existing file", H.async(function()
      spit(dir .. "/f", "abc")
      ioerror("EEXIST", "open", fs.open, dir .. "/f", "wx")
      local f = fs.open(dir .. "/g", "wbx")
      f:close()
      assert.is_true(exists(dir .. "/g"))
    end))

    it("creates files with the numeric mode", H.async(function()
      local f = fs.open(dir .. "/m", "w", tonumber("600", 8))
      f:close()
      assert.equal(tonumber("600", 8), fs.stat(dir .. "/m").mode)
    end))

    it("raises ENOTDIR through a file", H.async(function()
      spit(dir .. "/f", "")
      ioerror("ENOTDIR", "open", fs.open, dir .. "/f/x", "r")
    end))

    it("rejects a mode that is not a number in range", H.async(function()
      for _, m in ipairs { "644", -1, tonumber("10000", 8), 1.5 } do
        local e = S.catch(fs.open, dir .. "/f", "w", m)
        assert.matches("bad argument #3", tostring(e))
      end
      assert.is_false(exists(dir .. "/f"))
    end))

    it("rejects bad flags as an argument error", H.async(function()
      for _, m in ipairs { "", "q", "rw", "r++", "rx", 7 } do
        local e = S.catch(fs.open, dir .. "/f", m)
        assert.is_false(loom.IOError:is(e))
        assert.matches("bad argument", tostring(e))
      end
      assert.is_false(exists(dir .. "/f"))
    end))

    it("exposes the path and a readable tostring", H.async(function()
      local f = fs.open(dir .. "/f", "w")
      assert.equal(dir .. "/f", f.path)
      assert.matches("loom.File", tostring(f))
      f:close()
      assert.matches("closed", tostring(f))
    end))
  end)

  describe("File:read", function()
    it("reads at the position and returns nil at the end", H.async(function()
      spit(dir .. "/f", BYTES)
      local f = fs.open(dir .. "/f", "r")
      local parts = {}
      while true do
        local s = f:read(100)
        if s == nil then break end
        assert.is_true(#s <= 100)
        parts[#parts + 1] = s
      end
      assert.equal(BYTES, table.concat(parts))
      assert.is_nil(f:read(1))
      assert.is_nil(f:read(1))
      f:close()
    end))

    it("with an offset leaves the position alone", H.async(function()
      spit(dir .. "/f", "0123456789")
      local f = fs.open(dir .. "/f", "r")
      assert.equal("01", f:read(2))
      assert.equal("789", f:read(3, 7))
      assert.equal("0", f:read(1, 0))
      assert.is_nil(f:read(1, 10))
      assert.equal("23", f:read(2))
      f:close()
    end))

    it("reads a few MB in one call", H.async(function()
      local data = big_data()
      spit(dir .. "/big", data)
      local f = fs.open(dir .. "/big", "r")
      local got = f:read(#data + 10)
      assert.is_true(got == data)
      assert.is_nil(f:read(1))
      f:close()
    end))

    it("returns \"\" for 0 bytes and rejects negative counts",
      H.async(function()
        spit(dir .. "/f", "ab")
        local f = fs.open(dir .. "/f", "r")
        assert.equal("", f:read(0))
        assert.matches("bad argument", tostring(S.catch(f.read, f, -1)))
        assert.matches("bad argument", tostring(S.catch(f.read, f, 1, -1)))
        assert.matches("bad argument", tostring(S.catch(f.read, f, "x")))
        assert.equal("ab", f:read(2))
        f:close()
      end))

    it("serves concurrent reads in turn, each bytes once", H.async(function()
      spit(dir .. "/f", BYTES)
      local f = fs.open(dir .. "/f", "r")
      local got = {}
      loom.with_group(function(g)
        for i = 1, 8 do
          g:spawn(function() got[i] = f:read(32) end)
        end
      end)
      table.sort(got)
      local want = {}
      for i = 1, 8 do want[i] = BYTES:sub(32 * i - 31, 32 * i) end
      table.sort(want)
      assert.same(want, got)
      f:close()
    end))

    it("raises EISDIR on a directory", H.async(function()
      local f = fs.open(dir, "r")
      local e = ioerror("EISDIR", "read", f.read, f, 10)
      assert.matches(dir, e.message, 1, true)
      f:close()
    end))

    it("keeps the bytes of a cancelled read of a pipe", H.async(function()
      local fifo = dir .. "/p"
      H.mkfifo(fifo)
      local f = fs.open(fifo, "r+")             -- O_RDWR: no wait
      local t0 = loom.now()
      assert.is_nil(loom.move_on_after(0.05, function() return f:read(10) end))
      assert.is_true(loom.now() - t0 >= 0.05)
      local w = assert(io.open(fifo, "w"))
      w:write("hello")
      w:close()
      -- The cancelled read got them in the background; they are not lost.
      assert.equal("hel", f:read(3))
      assert.equal("lo", f:read(10))
      f:close()
    end))

    it("raises \"closed\" on a closed file", H.async(function()
      local f = fs.open(dir .. "/f", "w")
      f:close()
      assert.matches("closed", tostring(S.catch(f.read, f, 1)))
    end))
  end)

  describe("File:write", function()
    it("writes at the position and advances it", H.async(function()
      local f = fs.open(dir .. "/f", "w+")
      assert.equal(f, f:write("abc"))
      f:write(BYTES)
      assert.equal(BYTES:sub(1, 3), f:read(3, 3))
      f:write("!")
      f:close()
      assert.equal("abc" .. BYTES .. "!", slurp(dir .. "/f"))
    end))

    it("with an offset leaves the position alone", H.async(function()
      local f = fs.open(dir .. "/f", "w+")
      f:write("0123456789")
      f:write("AB", 2)
      f:write("C")
      f:close()
      assert.equal("01AB456789C", slurp(dir .. "/f"))
    end))

    it("leaves a hole of zeros past the end", H.async(function()
      local f = fs.open(dir .. "/f", "w")
      f:write("x", 4)
      f:close()
      assert.equal("\0\0\0\0x", slurp(dir .. "/f"))
    end))

    it("writes a few MB in one call", H.async(function()
      local data = big_data()
      local f = fs.open(dir .. "/big", "w")
      f:write(data)
      assert.equal(#data, f:stat().size)
      f:close()
      assert.is_true(slurp(dir .. "/big") == data)
    end))

    it("writes to and reads from a pipe, which cannot seek",
      H.async(function()
        local fifo = dir .. "/p"
        H.mkfifo(fifo)
        local f = fs.open(fifo, "r+")
        f:write("abc"):write("def")
        assert.equal("abc", f:read(3))
        assert.equal("def", f:read(10))
        ioerror("ESPIPE", "read", f.read, f, 1, 0)
        f:close()
      end))

    it("raises EBADF on a read-only file", H.async(function()
      spit(dir .. "/f", "abc")
      local f = fs.open(dir .. "/f", "r")
      local e = ioerror("EBADF", "write", f.write, f, "x")
      assert.matches(dir .. "/f", e.message, 1, true)
      f:close()
      assert.equal("abc", slurp(dir .. "/f"))
    end))

    it("rejects non-strings and negative offsets", H.async(function()
      local f = fs.open(dir .. "/f", "w")
      assert.matches("bad argument", tostring(S.catch(f.write, f, 12)))
      assert.matches("bad argument", tostring(S.catch(f.write, f, "a", -2)))
      f:close()
    end))

    it("raises \"closed\" on a closed file", H.async(function()
      local f = fs.open(dir .. "/f", "w")
      f:close()
      assert.matches("closed", tostring(S.catch(f.write, f, "x")))
    end))
  end)

  describe("File:stat", function()
    it("describes the open file", H.async(function()
      local f = fs.open(dir .. "/f", "w")
      f:write("12345")
      local st = f:stat()
      assert.equal(5, st.size)
      assert.equal("file", st.type)
      f:close()
      assert.matches("closed", tostring(S.catch(f.stat, f)))
    end))
  end)

  describe("File:close", function()
    it("is idempotent", H.async(function()
      local f = fs.open(dir .. "/f", "w")
      f:close()
      f:close()
    end))

    it("wakes tasks waiting for the file with \"closed\"", H.async(function()
      local fifo = dir .. "/p"
      H.mkfifo(fifo)
      local f = fs.open(fifo, "r+")
      local rec = S.recorder()
      loom.with_group(function(g)
        g:spawn(function() rec("a:" .. f:read(5)) end)   -- in the kernel
        g:spawn(function()                                -- waits its turn
          rec("b:" .. tostring(S.catch(f.read, f, 5)):match("closed"))
        end)
        g:spawn(function()
          loom.sleep(0.02)
          f:close()            -- waits for the read in the kernel to end
          rec("closed")
        end)
        loom.sleep(0.05)
        local w = assert(io.open(fifo, "w"))
        w:write("hello")
        w:close()
      end)
      assert.same({ "b:closed", "a:hello", "closed" }, rec.list)
    end))

    it("works outside a task without waiting", function()
      local f
      loom.run(function() f = fs.open(dir .. "/f", "w") end)
      f:close()
      H.assert_no_fd_leak(fds, fdnames)
      assert.matches("closed", tostring(S.catch(f.write, f, "x")))
    end)
  end)

  describe("File __close and __gc", function()
    it("a <close> variable closes the file without blocking",
      H.async(function()
        local g
        do
          local f <close> = fs.open(dir .. "/f", "w")
          g = f
          f:write("data")
        end
        assert.matches("closed", tostring(S.catch(g.write, g, "x")))
        assert.equal("data", slurp(dir .. "/f"))
      end))

    it("collecting an open file closes it", H.async(function()
      fs.open(dir .. "/f", "w")
      local weak = setmetatable({ fs.open(dir .. "/g", "w") }, { __mode = "v" })
      collectgarbage()
      collectgarbage()
      assert.is_nil(weak[1])
      loom.sleep(0.01)
    end))

    it("a <close> variable closes the file when an error unwinds",
      H.async(function()
        local g
        local ok = pcall(function()
          local f <close> = fs.open(dir .. "/f", "w")
          g = f
          error("boom")
        end)
        assert.is_false(ok)
        assert.matches("closed", tostring(S.catch(g.read, g, 1)))
      end))
  end)

  describe("fs.stat", function()
    it("gives size, type, mtime, mode and nlink", H.async(function()
      spit(dir .. "/f", "12345")
      local st = fs.stat(dir .. "/f")
      assert.equal(5, st.size)
      assert.equal("file", st.type)
      assert.equal(1, st.nlink)
      assert.is_number(st.mtime)
      assert.is_true(math.abs(st.mtime - os.time()) < 60)
      assert.is_true(st.mode > 0 and st.mode <= tonumber("7777", 8))
      assert.equal("directory", fs.stat(dir).type)
    end))

    it("raises ENOENT and ENOTDIR", H.async(function()
      local e = ioerror("ENOENT", "stat", fs.stat, dir .. "/none")
      assert.matches(dir .. "/none", e.message, 1, true)
      spit(dir .. "/f", "")
      ioerror("ENOTDIR", "stat", fs.stat, dir .. "/f/x")
    end))
  end)

  describe("fs.lstat", function()
    it("describes a link itself", H.async(function()
      spit(dir .. "/f", "abc")
      assert(os.execute("ln -s '" .. dir .. "/f' '" .. dir .. "/l'"))
      assert.equal("link", fs.lstat(dir .. "/l").type)
      assert.equal("file", fs.stat(dir .. "/l").type)
      ioerror("ENOENT", "lstat", fs.lstat, dir .. "/none")
    end))
  end)

  describe("fs.unlink", function()
    it("removes a file", H.async(function()
      spit(dir .. "/f", "")
      assert.is_true(fs.unlink(dir .. "/f"))
      assert.is_false(exists(dir .. "/f"))
    end))

    it("raises ENOENT, and an error for a directory", H.async(function()
      ioerror("ENOENT", "unlink", fs.unlink, dir .. "/none")
      local e = S.catch(fs.unlink, dir)
      assert.is_true(loom.IOError:is(e))
      assert.is_true(e.code == "EISDIR" or e.code == "EPERM", e.code)
      assert.is_true(exists(dir))
    end))
  end)

  describe("fs.mkdir", function()
    it("creates a directory with a mode", H.async(function()
      fs.mkdir(dir .. "/d")
      assert.equal("directory", fs.stat(dir .. "/d").type)
      fs.mkdir(dir .. "/m", tonumber("700", 8))
      assert.equal(tonumber("700", 8), fs.stat(dir .. "/m").mode)
    end))

    it("rejects a mode that is not a number", H.async(function()
      local e = S.catch(fs.mkdir, dir .. "/d", "755")
      assert.matches("bad argument #2", tostring(e))
      assert.is_false(exists(dir .. "/d"))
    end))

    it("raises EEXIST, ENOENT and ENOTDIR", H.async(function()
      ioerror("EEXIST", "mkdir", fs.mkdir, dir)
      ioerror("ENOENT", "mkdir", fs.mkdir, dir .. "/a/b")
      spit(dir .. "/f", "")
      ioerror("ENOTDIR", "mkdir", fs.mkdir, dir .. "/f/d")
    end))
  end)

  describe("fs.rmdir", function()
    it("removes an empty directory", H.async(function()
      fs.mkdir(dir .. "/d")
      assert.is_true(fs.rmdir(dir .. "/d"))
      assert.is_false(exists(dir .. "/d"))
    end))

    it("raises ENOTEMPTY, ENOENT and ENOTDIR", H.async(function()
      spit(dir .. "/f", "")
      ioerror("ENOTEMPTY", "rmdir", fs.rmdir, dir)
      ioerror("ENOENT", "rmdir", fs.rmdir, dir .. "/none")
      ioerror("ENOTDIR", "rmdir", fs.rmdir, dir .. "/f")
    end))
  end)

  describe("fs.rename", function()
    it("moves a file, replacing the target", H.async(function()
      spit(dir .. "/a", "A")
      spit(dir .. "/b", "B")
      assert.is_true(fs.rename(dir .. "/a", dir .. "/b"))
      assert.is_false(exists(dir .. "/a"))
      assert.equal("A", slurp(dir .. "/b"))
    end))

    it("raises ENOENT with both paths, EISDIR and ENOTEMPTY",
      H.async(function()
        local e = ioerror("ENOENT", "rename", fs.rename, dir .. "/x",
                          dir .. "/y")
        assert.matches(dir .. "/x -> " .. dir .. "/y", e.message, 1, true)
        spit(dir .. "/f", "")
        fs.mkdir(dir .. "/d")
        ioerror("EISDIR", "rename", fs.rename, dir .. "/f", dir .. "/d")
        fs.mkdir(dir .. "/e")
        spit(dir .. "/e/x", "")
        local e2 = S.catch(fs.rename, dir .. "/d", dir .. "/e")
        assert.is_true(e2.code == "ENOTEMPTY" or e2.code == "EEXIST", e2.code)
      end))
  end)

  describe("fs.scandir", function()
    it("lists entries sorted, with their types", H.async(function()
      spit(dir .. "/b", "")
      fs.mkdir(dir .. "/a")
      H.mkfifo(dir .. "/c")
      assert(os.execute("ln -s b '" .. dir .. "/d'"))
      assert.same({
        { name = "a", type = "directory" },
        { name = "b", type = "file" },
        { name = "c", type = "fifo" },
        { name = "d", type = "link" },
      }, fs.scandir(dir))
      assert.same({}, fs.scandir(dir .. "/a"))
    end))

    it("raises ENOENT and ENOTDIR", H.async(function()
      ioerror("ENOENT", "scandir", fs.scandir, dir .. "/none")
      spit(dir .. "/f", "")
      ioerror("ENOTDIR", "scandir", fs.scandir, dir .. "/f")
    end))
  end)

  describe("argument errors", function()
    it("are reported at the caller's line, counting arguments after self",
      H.async(function()
        local argerror = H.argerror
        argerror(function() fs.open(dir .. "/f", "q") end,
                 "bad argument #2 to 'open' (invalid mode")
        argerror(function() fs.open(dir .. "/f", "w", "644") end,
                 "bad argument #3 to 'open' (number expected, got string)")
        argerror(function() fs.mkdir(dir .. "/d", -1) end,
                 "bad argument #2 to 'mkdir' (mode out of range)")
        argerror(function() fs.stat({}) end,
                 "bad argument #1 to 'stat' (string expected, got table)")
        argerror(function() fs.rename(dir, nil) end,
                 "bad argument #2 to 'rename' (string expected, got nil)")
        argerror(function() fs.read_file({}) end,
                 "bad argument #1 to 'read_file' (string expected, got table)")
        argerror(function() fs.write_file(dir .. "/f", 4) end,
                 "bad argument #2 to 'write_file' (string expected, got "
                 .. "number)")
        local f = fs.open(dir .. "/f", "w+")
        argerror(function() f:read("x") end,
                 "bad argument #1 to 'read' (number expected, got string)")
        argerror(function() f:read(1, -1) end,
                 "bad argument #2 to 'read' (negative offset)")
        argerror(function() f:write(12) end,
                 "bad argument #1 to 'write' (string expected, got number)")
        argerror(function() f.stat(12) end,
                 "bad argument #1 to 'stat' (loom.File expected, got number)")
        f:close()
        argerror(function() f:read(1) end, "closed file")
      end))
  end)

  describe("blocking calls outside a task", function()
    it("raise \"outside of a loom task\"", function()
      for _, f in ipairs { fs.read_file, fs.stat, fs.scandir, fs.unlink,
                           fs.rmdir, fs.mkdir, fs.open } do
        assert.matches("outside of a loom task", tostring(S.catch(f, dir)))
      end
    end)
  end)

  -- Every blocking call, cancelled: while blocked (its request queued
  -- behind a busy threadpool, so it is really cancelled), at the moment it
  -- completes (the result is not lost; Cancelled comes at the next
  -- checkpoint), with an expired deadline (nothing is done), and under a
  -- shield (it completes). Leaks are checked after each test (anchors,
  -- tasks, file descriptors).
  local ops = {
    { name = "fs.read_file", multi = true,
      prepare = function(c) spit(c.p, BYTES) end,
      run = function(c) return fs.read_file(c.p) end,
      result = function(_, r) assert.equal(BYTES, r) end },
    { name = "fs.write_file", multi = true,
      run = function(c) return fs.write_file(c.p, BYTES) end,
      effect = function(c) return exists(c.p) and slurp(c.p) == BYTES end },
    { name = "fs.open",
      run = function(c) return fs.open(c.p, "w") end,
      result = function(_, f) f:close() end,
      effect = function(c) return exists(c.p) end },
    { name = "File:read",
      prepare = function(c) spit(c.p, BYTES); c.f = fs.open(c.p, "r") end,
      run = function(c) return c.f:read(10) end,
      result = function(_, s) assert.equal(BYTES:sub(1, 10), s) end,
      -- The position moved only if the bytes were returned.
      effect = function(c) return c.f:read(2) == BYTES:sub(11, 12) end },
    { name = "File:read with an offset",
      prepare = function(c) spit(c.p, BYTES); c.f = fs.open(c.p, "r") end,
      run = function(c) return c.f:read(10, 100) end,
      result = function(_, s) assert.equal(BYTES:sub(101, 110), s) end },
    { name = "File:write",
      prepare = function(c) c.f = fs.open(c.p, "w+") end,
      run = function(c) return c.f:write("abc") end,
      result = function(c, r) assert.equal(c.f, r) end,
      effect = function(c)
        c.f:write("Z")          -- after "abc" only if that was written
        return slurp(c.p) == "abcZ"
      end },
    { name = "File:write with an offset",
      prepare = function(c) c.f = fs.open(c.p, "w") end,
      run = function(c) return c.f:write("abc", 2) end,
      effect = function(c) return slurp(c.p) == "\0\0abc" end },
    { name = "File:stat",
      prepare = function(c) spit(c.p, "xy"); c.f = fs.open(c.p, "r") end,
      run = function(c) return c.f:stat() end,
      result = function(_, st) assert.equal(2, st.size) end },
    { name = "File:close", closes = true,
      prepare = function(c) c.f = fs.open(c.p, "w") end,
      run = function(c) return c.f:close() end },
    { name = "fs.stat",
      prepare = function(c) spit(c.p, "xyz") end,
      run = function(c) return fs.stat(c.p) end,
      result = function(_, st) assert.equal(3, st.size) end },
    { name = "fs.lstat",
      prepare = function(c) spit(c.p, "xyz") end,
      run = function(c) return fs.lstat(c.p) end,
      result = function(_, st) assert.equal("file", st.type) end },
    { name = "fs.unlink",
      prepare = function(c) spit(c.p, "") end,
      run = function(c) return fs.unlink(c.p) end,
      effect = function(c) return not exists(c.p) end },
    { name = "fs.mkdir",
      run = function(c) return fs.mkdir(c.p) end,
      effect = function(c) return exists(c.p) end },
    { name = "fs.rmdir",
      prepare = function(c) fs.mkdir(c.p) end,
      run = function(c) return fs.rmdir(c.p) end,
      effect = function(c) return not exists(c.p) end },
    { name = "fs.rename",
      prepare = function(c) spit(c.p, "r") end,
      run = function(c) return fs.rename(c.p, c.p .. ".new") end,
      effect = function(c) return exists(c.p .. ".new") end },
    { name = "fs.scandir",
      prepare = function(c) spit(c.p, "") end,
      run = function(c) return fs.scandir(c.dir) end,
      result = function(_, list) assert.equal("f", list[1].name) end },
  }

  for _, op in ipairs(ops) do
    describe(op.name .. " cancelled", function()
      local function context()
        local c = { dir = dir, p = dir .. "/f" }
        if op.prepare then op.prepare(c) end
        return c
      end
      local function finish(c)
        if c.f then c.f:close() end
      end
      local function closed(c)
        return tostring(S.catch(c.f.stat, c.f)):match("closed") ~= nil
      end

      it("while blocked returns at once and does nothing", H.async(function()
        local c = context()
        local t0, dt
        H.with_clogged_pool(dir, function()
          t0 = loom.now()
          local r = table.pack(loom.move_on_after(0.05, function()
            return op.run(c)
          end))
          dt = loom.now() - t0
          assert.equal(0, r.n)
        end)
        assert.is_true(dt >= 0.05, "returned early")
        assert.is_true(dt < 0.6, "returned late: " .. dt)
        if op.effect then assert.is_false(op.effect(c)) end
        if op.closes then assert.is_true(closed(c)) end
        finish(c)
      end))

      it("at the moment it completes keeps the result", H.async(function()
        local c = context()
        local out = H.cancel_at_completion(function() return op.run(c) end)
        if op.multi and not out.ok then
          assert.is_true(loom.is_cancelled(out.err), tostring(out.err))
        else
          assert.is_true(out.ok, tostring(out.err))
          assert.is_true(loom.is_cancelled(out.after))
          if op.result then op.result(c, table.unpack(out.result)) end
          if op.effect then assert.is_true(op.effect(c)) end
        end
        if op.closes then assert.is_true(closed(c)) end
        finish(c)
      end))

      it("with an expired deadline does nothing", H.async(function()
        local c = context()
        local e = S.catch(loom.timeout, 0, function() return op.run(c) end)
        assert.is_true(loom.TimeoutError:is(e), tostring(e))
        if op.effect then assert.is_false(op.effect(c)) end
        if op.closes then assert.is_true(closed(c)) end
        finish(c)
      end))

      it("under a shield completes", H.async(function()
        local c = context()
        local r, after
        loom.scope(function(s)
          s:cancel()
          r = table.pack(loom.shield(function() return op.run(c) end))
          after = S.catch(loom.checkpoint)
        end)
        assert.is_true(loom.is_cancelled(after))
        if op.result then op.result(c, table.unpack(r, 1, r.n)) end
        if op.effect then assert.is_true(op.effect(c)) end
        if op.closes then assert.is_true(closed(c)) end
        finish(c)
      end))
    end)
  end

  describe("state teardown with a host loop", function()
    -- With a host loop (loom_attach), lua_close may run while requests
    -- are in flight; their callbacks run in the host's next uv_run, after
    -- the context, the Files and the strings are gone. They must touch
    -- only memory that outlives the state (the host runs under valgrind,
    -- or with ASan in `make asan`, so any use after free fails it).
    it("lets requests in flight end after lua_close, touching no freed "
       .. "memory", function()
      local out, ok = H.teardown_host(dir, [[
        local loom = require "loom"
        local n = 0
        local function ready() n = n + 1; if n == 6 then READY = true end end
        loom.start(function()       -- a read blocked in the kernel
          local f = loom.fs.open(RFIFO, "r+")
          ready()
          f:read(10)
        end)
        loom.start(function()       -- a write blocked in the kernel
          local f = loom.fs.open(WFIFO, "r+")
          ready()
          f:write(string.rep("w", 256 * 1024))
        end)
        loom.start(function()       -- a read cancelled: detached
          local f = loom.fs.open(RFIFO, "r+")
          loom.move_on_after(0.05, function() f:read(10) end)
          ready()
          loom.sleep(100)
        end)
        loom.start(function()       -- a lookup
          ready()
          loom.dns.getaddrinfo("localhost")
        end)
        loom.start(function()       -- an open File, closed by __gc
          G = loom.fs.open(WFIFO, "r+")
          ready()
          loom.sleep(100)
        end)
        loom.start(function()       -- a stream write to a peer that
          local l = loom.pipe.listen(RFIFO .. ".sock")  -- never reads
          local c = loom.pipe.connect(RFIFO .. ".sock")
          L, A = l, l:accept()
          ready()
          c:write(string.rep("x", 1024 * 1024))
        end)
      ]], 256 * 1024)
      assert.is_true(ok, out)
      assert.matches("uv_loop_close = 0", out)
      assert.matches("drained 262144", out)
    end)
  end)

  describe("an open cancelled after it started", function()
    it("closes the descriptor it got", H.async(function()
      local fifo = dir .. "/p"
      H.mkfifo(fifo)
      -- open(2) of a FIFO for reading waits in the kernel for a writer.
      assert.is_nil(loom.move_on_after(0.05, function()
        return fs.open(fifo, "r")
      end))
      local w = assert(io.open(fifo, "w"))   -- the reader is there
      w:close()
      -- loom.run waits for the background open, which closes its
      -- descriptor; after_each counts descriptors.
    end))
  end)
end)
