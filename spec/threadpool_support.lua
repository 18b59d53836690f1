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
  -- Objects of earlier tests that are only garbage close their
  -- descriptors now, not in the middle of the next count.
  collectgarbage()
  collectgarbage()
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
  if n > n0 then              -- fewer: an earlier test's object closed
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

--- Call 'fn', a function whose one line makes a call that raises an
-- argument error; check that the message is 'msg' (plain text) and
-- points at that line (the caller's, not a wrapper's in lua/loom).
function H.argerror(fn, msg)
  local info = debug.getinfo(fn, "S")
  local ok, e = pcall(fn)
  assert(not ok, "expected an error, got success")
  local where = info.short_src .. ":" .. info.linedefined .. ": "
  assert(type(e) == "string" and e:sub(1, #where) == where,
         ("error not raised at the caller's line (%s): %s")
         :format(where, tostring(e)))
  assert(e:find(msg, #where + 1, true),
         ("expected %q in: %s"):format(msg, e))
  return e
end

-- {==================================================================
-- A host program that closes the Lua state with requests in flight
-- ===================================================================

-- The C source of the host (compiled by H.teardown_host): it attaches its
-- own loop, runs a Lua chunk that starts loom tasks (they set READY once
-- their requests are about to start), runs the loop a little, closes the
-- Lua state while requests are in flight (in the threadpool, blocked in
-- the kernel on two FIFOs), then releases the FIFOs (20 bytes for two
-- reads of 10 on the first; the second drained) and runs its loop until
-- it is empty: every callback of those requests runs after lua_close.
-- argv: read FIFO, write FIFO, chunk, bytes to drain from the write FIFO.
local HOST_C = [==[
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#include "loom.h"

static void run(lua_State *L, const char *code) {
  if (luaL_dostring(L, code) != LUA_OK) {
    fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
    exit(2);
  }
}

static int flag(lua_State *L, const char *name) {
  int v;
  lua_getglobal(L, name);
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

int main(int argc, char **argv) {
  uv_loop_t loop;
  lua_State *L;
  static char buf[1 << 16];
  long want, got = 0;
  ssize_t n;
  int i, fd;
  if (argc < 5) return 2;
  want = atol(argv[4]);
  if (uv_loop_init(&loop) != 0) return 2;
  L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "loom.core", luaopen_loom_core, 0);
  lua_pop(L, 1);
  if (loom_attach(L, &loop) != 0) return 2;
  lua_pushstring(L, argv[1]);
  lua_setglobal(L, "RFIFO");
  lua_pushstring(L, argv[2]);
  lua_setglobal(L, "WFIFO");
  run(L, argv[3]);
  for (i = 0; i < 5000 && !flag(L, "READY"); i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(1);
  }
  if (!flag(L, "READY")) {
    fprintf(stderr, "host: the tasks did not start\n");
    return 2;
  }
  for (i = 0; i < 10; i++) {     /* the requests are submitted */
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(2);
  }
  lua_close(L);
  printf("host: lua_close done\n");
  fflush(stdout);
  fd = open(argv[1], O_RDWR | O_NONBLOCK);   /* bytes for the read */
  if (fd >= 0) {
    if (write(fd, "01234567890123456789", 20) < 0) perror("host: write");
    close(fd);
  }
  fd = open(argv[2], O_RDWR | O_NONBLOCK);   /* room for the write */
  for (i = 0; fd >= 0 && got < want && i < 2000; i++) {
    n = read(fd, buf, sizeof buf);
    if (n > 0) got += (long)n;
    else uv_sleep(2);
  }
  if (fd >= 0) close(fd);
  uv_run(&loop, UV_RUN_DEFAULT);
  i = uv_loop_close(&loop);
  printf("host: drained %ld, uv_loop_close = %d\n", got, i);
  return i == 0 ? 0 : 1;
}
]==]

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

--- Compile the host in 'dir' against the loom under test, run it with the
-- Lua chunk 'chunk' (see HOST_C; 'drain': bytes the chunk writes to
-- WFIFO) and return its output and whether it succeeded. Under valgrind
-- when it is installed (and no sanitizer runtime is preloaded: an ASan
-- build checks by itself), so that a callback touching freed memory
-- fails the run.
function H.teardown_host(dir, chunk, drain)
  local build = os.getenv("LOOM_BUILD") or "build"
  local cwd = assert(sh("pwd")):gsub("%s+$", "")
  local src, exe = dir .. "/host.c", dir .. "/host"
  local f = assert(io.open(src, "w"))
  f:write(HOST_C)
  f:close()
  local flags = sh("pkg-config --cflags --libs lua5.4 libuv 2>/dev/null")
                  :gsub("%s+$", "")
  if flags == "" then flags = "-I/usr/include/lua5.4 -llua5.4 -luv" end
  local out, ok = sh(("cc -g -o %s %s -Icsrc %s -L%s/loom -l:core.so "
                      .. "-Wl,-rpath,%s/%s/loom -lm -ldl")
                     :format(quote(exe), quote(src), flags, build, cwd,
                             build))
  assert(ok, "cannot build the host: " .. out)
  local rfifo, wfifo = dir .. "/r.fifo", dir .. "/w.fifo"
  assert(os.execute("mkfifo " .. quote(rfifo) .. " " .. quote(wfifo)))
  local runner = ""
  if (os.getenv("LD_PRELOAD") or "") == "" and
     sh("command -v valgrind") ~= "" then
    runner = "valgrind -q --error-exitcode=99 "
  end
  return sh(("cd %s && LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' "
             .. "MALLOC_PERTURB_=165 timeout 60 %s%s %s %s %s %d")
            :format(quote(cwd), runner, quote(exe), quote(rfifo),
                    quote(wfifo), quote(chunk), drain))
end

return H
