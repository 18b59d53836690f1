-- Helpers of the specs of loom.fs and loom.dns (requests that run in
-- libuv's threadpool): temporary directories, a file-descriptor count, a
-- way to keep every thread of the pool busy (so that a request stays
-- queued and cancelling it really cancels it), and a way to cancel a task
-- in the very scheduler pass in which its request completes.
local loom = require "loom"
local testing = require "loom.testing"
local S = require "spec.support"

local H = {}

--- A new empty directory under the system's temporary directory.
function H.tmpdir()
  local p = os.tmpname()       -- creates a unique file: reuse its name
  os.remove(p)
  p = p .. ".loomdir"
  assert(os.execute("mkdir '" .. p .. "'"))
  return p
end

--- Remove a directory tree made by tmpdir.
function H.rmrf(p)
  assert(p:match("^/tmp/") or p:match("^" .. (os.getenv("TMPDIR") or "/tmp")))
  os.execute("rm -rf '" .. p .. "'")
end

local cleanups = {}

--- Run 'f' when the current test body ends (after its watchdog), even if
-- it failed.
function H.defer(f)
  cleanups[#cleanups + 1] = f
end

--- Like S.async, with a watchdog: the body is cancelled with a
-- TimeoutError after 'limit' seconds (default 10), then the functions
-- given to H.defer run (they release what could keep a request blocked
-- in the kernel, which would keep loom.run waiting).
function H.async(fn, limit)
  return S.async(function()
    local r = table.pack(pcall(loom.timeout, limit or 10, fn))
    local list = cleanups
    cleanups = {}
    for i = #list, 1, -1 do list[i]() end
    if not r[1] then error(r[2], 0) end
  end)
end

--- Make a FIFO (named pipe) at 'p'; the test's end writes to it, so that
-- no read of it stays blocked in the kernel.
function H.mkfifo(p)
  assert(os.execute("mkfifo '" .. p .. "'"), "mkfifo failed")
  H.defer(function() H.release_fifo(p) end)
end

--- Write 'n' bytes (default 64) to FIFO 'p' without ever waiting (O_RDWR
-- never waits for a reader on Linux), to wake the reads blocked on it.
function H.release_fifo(p, n)
  local f = io.open(p, "r+")
  if f then
    f:write(string.rep("x", n or 64))
    f:close()
  end
end

--- The open file descriptors of this process (outside any task): their
-- number, and a description ("fd=target ...") for failure messages.
function H.fd_count()
  local list = loom.run(function()
    return loom.fs.scandir("/proc/self/fd")
  end)
  local names = {}
  for i, e in ipairs(list) do names[i] = e.name end
  return #list, table.concat(names, " ")
end

--- Where the descriptors listed by fd_count point to (slow: for failure
-- messages only).
function H.fd_describe(names)
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("n")
  f:close()
  local out = {}
  for fd in names:gmatch("%d+") do
    local p = io.popen("readlink /proc/" .. pid .. "/fd/" .. fd)
    out[#out + 1] = fd .. "=" .. (p:read("l") or "?")
    p:close()
  end
  return table.concat(out, " ")
end

--- Check that no descriptor leaked since fd_count gave 'n0', 'names0'.
function H.assert_no_fd_leak(n0, names0)
  local n, names = H.fd_count()
  if n ~= n0 then
    error(("file descriptors leaked: %d before (%s), %d after (%s)"):format(
      n0, names0, n, H.fd_describe(names)), 2)
  end
end

--- The number of threads of libuv's pool.
function H.pool_size()
  return tonumber(os.getenv("UV_THREADPOOL_SIZE") or "") or 4
end

--- Inside a task: run fn() while every thread of libuv's pool is blocked
-- in a read of an empty FIFO in 'dir', so requests made by fn stay queued.
-- The pool is released before this returns (or raises fn's error).
function H.with_clogged_pool(dir, fn)
  local fifo = dir .. "/clog.fifo"
  H.mkfifo(fifo)
  local n = H.pool_size()
  local files = {}
  for i = 1, n do files[i] = loom.fs.open(fifo, "r+") end  -- never blocks
  return loom.with_group(function(g)
    for i = 1, n do
      g:spawn(function()
        assert(files[i]:read(1) == "x")
        files[i]:close()
      end)
    end
    loom.sleep(0.02)                 -- every thread is now in read(2)
    local r = table.pack(pcall(fn))
    local w = assert(io.open(fifo, "w"))   -- readers exist: no wait
    w:write(string.rep("x", n))
    w:close()
    if not r[1] then error(r[2], 0) end
    return table.unpack(r, 2, r.n)
  end)
end

--- Inside a task: run op() in a new task inside a scope, and cancel that
-- scope in the scheduler pass in which op's request completes (its task
-- is ready with the result but not resumed yet). 'trigger', if given, is
-- called by the cancelling task once op waits (to make it complete; it
-- must not wait). Returns a table with `ok`, `result` (table.pack of op's
-- results) or `err`, and `after` (the error raised by the checkpoint that
-- follows op, if op returned).
function H.cancel_at_completion(op, trigger)
  local out, scope = {}, nil
  loom.with_group(function(g)
    g:spawn(function()
      loom.scope(function(s)
        scope = s
        local r = table.pack(pcall(op))
        out.done = true
        out.ok = r[1]
        if r[1] then
          out.result = table.pack(table.unpack(r, 2, r.n))
          out.after = select(2, pcall(loom.checkpoint))
        else
          out.err = r[2]
        end
      end)
    end)
    g:spawn(function()
      loom.sleep(0)
      if trigger then trigger() end
      -- The other task is the only one that can become ready: as soon as
      -- it is, its request has completed. Test before sleeping again: the
      -- other task runs after this one in the same pass.
      while not out.done and testing.stats().ready_empty do
        loom.sleep(0)
      end
      scope:cancel()
    end)
  end)
  return out
end

return H
