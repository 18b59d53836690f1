-- 14: one server on every core. The parent starts N worker processes
-- (itself, with `--worker`); each listens on the same port with
-- `reuseport = true`, so the kernel spreads the connections among them,
-- and serves a line protocol: it answers each line with the line and the
-- worker that served it. The parent forwards what the workers print,
-- waits for them, and forwards Ctrl-C (SIGINT) and SIGTERM to them; each
-- worker finishes its connections and says how many it served.
--
--   lua5.4 examples/14_multicore_server.lua --serve [--workers N] [--port P]
--   (in another terminal) echo hi | nc 127.0.0.1 P; Ctrl-C stops it all
--
-- Without --serve (as `make demo` runs it) the parent also runs 200
-- concurrent clients, prints how many connections each worker served, and
-- stops the workers itself.
local loom = require "loom"

local function opt(name, default)
  for i = 1, #arg do
    if arg[i] == name then return arg[i + 1] or true end
  end
  return default
end

local function has(name)
  for i = 1, #arg do if arg[i] == name then return true end end
  return false
end

local HOST = "127.0.0.1"

-- {== A worker: serve on the shared port until SIGINT or SIGTERM =====

local function worker(id, port)
  local served = 0
  local l = loom.tcp.listen(HOST, port, { reuseport = true })
  local stop = loom.event()
  loom.with_group(function(outer)
    -- Either signal stops the worker. The watchers stay until the end,
    -- so a second Ctrl-C (the terminal's and the parent's) changes
    -- nothing.
    for _, name in ipairs { "SIGINT", "SIGTERM" } do
      outer:spawn(function()
        while true do
          loom.signal.wait(name)
          stop:set()
        end
      end)
    end
    print(("worker %d: ready"):format(id))
    io.stdout:flush()
    loom.with_group(function(g)
      g:spawn(function()
        l:serve(function(s)
          served = served + 1
          for line in function() return s:read_line() end do
            s:write(("worker %d: %s\n"):format(id, line))
          end
        end)
      end)
      stop:wait()
      g:cancel()       -- the serve loop and its handlers; streams close
    end)
    l:close()
    print(("worker %d: stopped after serving %d connections"):format(id,
                                                                     served))
    io.stdout:flush()
    outer:cancel()
  end)
end

-- {== The parent ======================================================

-- The interpreter running this script, to start the workers with.
local function interpreter()
  local i = -1
  while arg[i - 1] ~= nil do i = i - 1 end
  return arg[i] or "lua5.4"
end

-- A free port: bound once here, closed, then shared by the workers.
local function free_port()
  local l = loom.tcp.listen(HOST, 0)
  local port = l.port
  l:close()
  return port
end

-- Run `clients` concurrent connections; returns how many each worker
-- served (from the answers).
local function demo_clients(port, clients)
  local per = {}
  loom.with_group(function(g)
    for c = 1, clients do
      g:spawn(function()
        local s = loom.tcp.connect(HOST, port)
        s:write(("hello %d\n"):format(c))
        local answer = s:read_line()
        s:close()
        local id = assert(answer:match("^worker (%d+): hello " .. c .. "$"),
                          answer)
        per[tonumber(id)] = (per[tonumber(id)] or 0) + 1
      end)
    end
  end)
  return per
end

local function parent(n, port, demo)
  local procs = {}
  local ready = 0
  local all_ready = loom.event()
  loom.with_group(function(g)
    for id = 1, n do
      local p = loom.process.spawn {
        interpreter(), arg[0], "--worker", tostring(id),
        "--port", tostring(port),
        stdout = "pipe", stderr = "inherit",
      }
      procs[id] = p
      -- Forward what the worker prints; count the ready ones.
      g:spawn(function()
        for line in function() return p.stdout:read_line() end do
          print(line)
          if line:match(": ready") then
            ready = ready + 1
            if ready == n then all_ready:set() end
          end
        end
      end)
    end
    local function stop(sig)
      for _, p in ipairs(procs) do pcall(p.kill, p, sig) end
    end
    -- Forward Ctrl-C and SIGTERM to the workers. A worker that exits
    -- first (a crash) does not stop the others.
    local forwarders = {}
    for _, name in ipairs { "SIGINT", "SIGTERM" } do
      forwarders[#forwarders + 1] = g:spawn(function()
        loom.signal.wait(name)
        print("parent: " .. name .. ", stopping the workers")
        stop(name)
      end)
    end
    g:spawn(function()
      all_ready:wait()
      print(("parent: serving on %s:%d with %d workers"):format(HOST, port,
                                                               n))
      io.stdout:flush()
      if demo then
        local per = demo_clients(port, 200)
        for id = 1, n do
          print(("parent: worker %d served %d of 200 clients"):format(id,
                per[id] or 0))
        end
        stop("SIGTERM")
      end
    end)
    for id, p in ipairs(procs) do
      local code, sig = p:wait()
      print(("parent: worker %d exited (%s)"):format(id,
            sig and ("signal " .. sig) or ("code " .. code)))
    end
    for _, t in ipairs(forwarders) do t:cancel() end
  end)
  print("parent: every worker has stopped")
end

-- {== Main ============================================================

local id = opt("--worker")
if id then
  local ok, e = pcall(loom.run, worker, tonumber(id), tonumber(opt("--port")))
  if not ok and not loom.Interrupted:is(e) then error(e, 0) end
else
  loom.run(function()
    local cpus = loom.thread.cpu_count()
    local n = tonumber(opt("--workers", cpus))
    local port = tonumber(opt("--port", 0))
    if port == 0 then port = free_port() end
    parent(n, port, not has("--serve"))
  end)
end
