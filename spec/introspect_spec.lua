-- Introspection and tracebacks (API.md §11): t.spawned_at and t.parent,
-- loom.tree() and loom.dump() for a known tree of waits, what every
-- blocking operation says it waits on, dump_on_signal and LOOM_DUMP_SIGNAL
-- (a child process's stderr), the spawn chain at the end of tracebacks,
-- loom's own frames left out of them, and the deadlock listing.
local loom = require "loom"
local S = require "spec.support"

-- "file:line" of the caller's current line, as t.spawned_at words it.
local function here()
  local i = debug.getinfo(2, "Sl")
  return i.short_src .. ":" .. i.currentline
end

-- The node named 'name' in a tree (depth first), or nil.
local function find(node, name)
  if node.name == name then return node end
  for _, c in ipairs(node.children or {}) do
    local f = find(c, name)
    if f then return f end
  end
end

-- Wait until 'pred()' holds (at most 5 s of polling).
local function until_true(pred)
  local t0 = loom.now()
  while not pred() do
    assert(loom.now() - t0 < 5, "timed out:\n" .. loom.format_tree())
    loom.sleep(0.002)
  end
end

local function waiting_of(name)
  local n = find(loom.tree(), name)
  return n and n.waiting
end

describe("t.spawned_at", function()
  it("is the file:line of g:spawn, g:start, loom.run and loom.start",
    function()
      local lines = {}
      lines.run = here(); local root = loom.run(function()
        local me = loom.current_task()
        loom.with_group(function(g)
          local t
          t = g:spawn(function() end); lines.spawn = here()
          lines.t = t
          local st
          lines.start = here(); st = g:start(function(started)
            lines.started = loom.current_task()
            started()
          end)
          assert.is_nil(st)
        end)
        return me
      end)
      assert.equal(lines.run, root.spawned_at)
      assert.equal(lines.spawn, lines.t.spawned_at)
      assert.equal(lines.start, lines.started.spawned_at)
      local h = loom.start(function() end); local line = here()
      assert.equal(line, h.spawned_at)
      loom.run(function() h:join() end)
    end)

  it("names the user's line for tasks that loom's wrappers spawn",
    S.async(function()
      local l = loom.tcp.listen("127.0.0.1", 0)
      local seen = loom.event()
      local task
      loom.with_group(function(g)
        local line
        g:spawn(function()
          line = here(); l:serve(function(s)
            task = loom.current_task()
            seen:set()
            s:read()
          end)
        end)
        local c = loom.tcp.connect("127.0.0.1", l.port)
        seen:wait()
        assert.equal(line, task.spawned_at)
        c:close()
        g:cancel()
      end)
      l:close()
    end))

  it("names each chunk when spawns alternate between chunks, and a chunk "
     .. "whose source's address a collected one had", S.async(function()
    local function spawner(name)           -- a chunk that spawns on line 2
      return assert(load("local g = ...\nreturn g:spawn(function() end)",
                         "=" .. name))
    end
    loom.with_group(function(g)
      local a, b = spawner("chunk_a"), spawner("chunk_b")
      for _ = 1, 3 do
        assert.equal("chunk_a:2", a(g).spawned_at)
        assert.equal("chunk_b:2", b(g).spawned_at)
        assert.equal(here(), g:spawn(function() end).spawned_at)
      end
      -- Each chunk dies before the next is made; its long (not interned)
      -- name is freed, and the next one's name may take its address.
      for i = 1, 100 do
        local f = spawner(i .. "_" .. string.rep("x", 150))
        local src = debug.getinfo(f, "S").short_src
        assert.equal(src .. ":2", f(g).spawned_at)
        f = nil -- luacheck: ignore 311
        collectgarbage()
      end
    end)
  end))

  it("is nil with loom.configure{ spawn_sites = false }", S.async(function()
    loom.configure{ spawn_sites = false }
    local ok, t = pcall(loom.with_group, function(g)
      return g:spawn(function() end)
    end)
    loom.configure{ spawn_sites = true }
    assert.is_true(ok)
    assert.is_nil(t.spawned_at)
    loom.with_group(function(g)
      local u = g:spawn(function() end); local line = here()
      assert.equal(line, u.spawned_at)
    end)
  end))

  it("loom.configure rejects unknown options and non-booleans", function()
    assert.matches("unknown option 'nope'",
                   S.catch(loom.configure, { nope = true }))
    assert.matches("must be a boolean",
                   S.catch(loom.configure, { spawn_sites = 1 }))
    assert.matches("table expected", S.catch(loom.configure, "x"))
  end)
end)

describe("t.parent", function()
  it("is the task that spawned it, even into another task's group",
    S.async(function()
      local me = loom.current_task()
      assert.is_nil(me.parent)
      local a
      loom.with_group(function(g)
        a = g:spawn(function() loom.sleep(0) end)
        assert.equal(me, a.parent)
        local b, c
        b = g:spawn(function()
          c = g:spawn(function() end)      -- into the body's group
        end)
        b:join()
        assert.equal(b, c.parent)
        assert.equal(me, b.parent)
      end)
      -- Still so once all of them have finished.
      assert.equal(me, a.parent)
    end))

  it("a relay of tasks, each spawning the next then ending, keeps no "
     .. "memory", S.async(function()
    local weak = setmetatable({}, { __mode = "v" })
    local last
    loom.with_group(function(g)
      local function relay(n)
        weak[#weak + 1] = loom.current_task()
        if n == 0 then
          last = loom.current_task()
          return
        end
        g:spawn(relay, n - 1)
      end
      g:spawn(relay, 200)
    end)
    collectgarbage()
    collectgarbage()
    local alive = 0
    for _ in pairs(weak) do alive = alive + 1 end
    assert.is_true(alive <= 20, "tasks kept: " .. alive)
    assert.is_not_nil(last)
  end))
end)

describe("loom.tree()", function()
  it("shows a known tree of waits: nesting, what each waits on, "
     .. "deadlines and shields", S.async(function()
    local me = loom.current_task()
    me.name = "root"
    local ev = loom.event()
    local t0 = loom.now()
    loom.with_group(function(g)
      local a = g:spawn(function() loom.sleep(30) end)
      a.name = "sleeper"
      local b = g:spawn(function()
        loom.move_on_after(20, function()
          loom.with_group(function(g2)
            g2:spawn(function() ev:wait() end).name = "waiter"
            g2:spawn(function()
              loom.shield(function() loom.sleep(0.3) end)
            end).name = "shielded"
          end)
        end)
      end)
      b.name = "parent"
      g:spawn(function() a:join() end).name = "joiner"
      loom.sleep(0.05)
      local tree = loom.tree()
      assert.equal("root", tree.name)
      assert.equal("running", tree.status)
      assert.equal("running", tree.state)
      assert.is_nil(tree.waiting)
      assert.same({ "sleeper", "parent", "joiner" },
                  { tree.children[1].name, tree.children[2].name,
                    tree.children[3].name })
      local s = tree.children[1]
      assert.equal("sleep", s.waiting)
      assert.equal("waiting", s.state)
      assert.is_true(s.waited >= 0.04 and s.waited < 5)
      assert.is_nil(s.deadline)
      assert.is_false(s.shielded)
      assert.equal(0, #s.children)
      local p = tree.children[2]
      assert.matches("^group", p.waiting)
      assert.is_true(p.deadline >= t0 + 20 and p.deadline < t0 + 25)
      assert.same({ "move_on", "group" }, { p.scopes[1].kind, p.scopes[2].kind })
      assert.equal(2, #p.children)
      assert.equal("waiter", p.children[1].name)
      assert.equal("event", p.children[1].waiting)
      assert.equal(p.deadline, p.children[1].deadline)
      local sh = p.children[2]
      assert.equal("shielded", sh.name)
      assert.is_true(sh.shielded)
      assert.is_nil(sh.deadline)          -- the shield hides move_on's
      assert.equal("shield", sh.scopes[1].kind)
      assert.equal("join " .. a.name, tree.children[3].waiting)
      assert.equal(a.spawned_at, s.spawned_at)
      g:cancel()
    end)
  end))

  it("marks tasks with a pending cancellation", S.async(function()
    loom.with_group(function(g)
      local t = g:spawn(function()
        loom.shield(function() loom.sleep(0.05) end)
      end)
      t.name = "busy"
      loom.sleep(0.01)
      g:cancel()
      local n = find(loom.tree(), "busy")
      assert.is_true(n.shielded)
      assert.is_false(n.cancelled)         -- inside the shield
      assert.is_true(find(loom.tree(), loom.current_task().name).cancelled)
    end)
  end))

  it("from a host: the tasks of loom.start under a node named loom",
    function()
      local a = loom.start(function() loom.sleep(10) end)
      a.name = "hosted"
      loom.run(function() loom.sleep(0.01) end)   -- let it start
      local tree = loom.tree()
      assert.equal("loom", tree.name)
      local n = find(tree, "hosted")
      assert.is_not_nil(n)
      assert.equal("sleep", n.waiting)
      loom.shutdown()
      assert.is_nil(find(loom.tree(), "hosted"))
    end)

  it("walks 5000 nested groups without recursion", S.async(function()
    local depth = 0
    local function nest(n)
      if n == 0 then
        local tree = loom.tree()
        local node = tree
        while #node.children > 0 do
          node = node.children[1]
          depth = depth + 1
        end
        return
      end
      loom.with_group(function(g) g:spawn(nest, n - 1) end)
    end
    nest(5000)
    assert.equal(5000, depth)
  end))
end)

describe("what a blocked task waits on", function()
  local function wait_names(setup)
    local got = {}
    loom.run(function()
      local objs
      loom.with_group(function(g)
        local names
        names, objs = setup(g)
        loom.sleep(0.05)
        for name in pairs(names) do
          until_true(function() return waiting_of(name) ~= nil end)
          got[name] = waiting_of(name)
        end
        g:cancel()
      end)
      for _, o in ipairs(objs or {}) do o:close() end
    end)
    require("loom.testing").assert_clean()
    return got
  end

  local function named(g, name, fn, ...)
    g:spawn(fn, ...).name = name
  end

  it("sync objects, joins, groups, start, await", function()
    local got = wait_names(function(g)
      local lk = loom.lock()
      local sem = loom.semaphore(0)
      local cond = loom.condition()
      local ch0, ch1 = loom.channel(0), loom.channel(1)
      ch1:try_send(1)
      local ev = loom.event()
      named(g, "event", ev.wait, ev)
      named(g, "holder", function() lk:acquire(); ev:wait() end)
      named(g, "lock", function() loom.sleep(0.01); lk:acquire() end)
      named(g, "semaphore", sem.acquire, sem)
      named(g, "condition", function() cond:with(cond.wait, cond) end)
      named(g, "channel receive", ch0.receive, ch0)
      named(g, "channel send", ch1.send, ch1, 2)
      named(g, "join", function()
        local t = g:spawn(function() ev:wait() end)
        t.name = "target"
        t:join()
      end)
      named(g, "start", function()
        loom.with_group(function(g2)
          g2:start(function() ev:wait() end)
        end)
      end)
      named(g, "group", function()
        loom.with_group(function(g2) g2:spawn(ev.wait, ev) end)
      end)
      named(g, "limit", function()
        loom.with_group({ limit = 1 }, function(g2)
          g2:spawn(ev.wait, ev)
          g2:spawn(ev.wait, ev)
        end)
      end)
      named(g, "await", loom.await, function() end)
      named(g, "to_thread", loom.to_thread, function()
        local l, c = require "loom", require "loom.core"
        while not l.thread.cancelled() do c.thread_block(1) end
      end)
      return { to_thread = 1, event = 1, lock = 1, semaphore = 1, condition = 1,
               ["channel receive"] = 1, ["channel send"] = 1, join = 1,
               start = 1, group = 1, limit = 1, await = 1 }
    end)
    assert.equal("event", got.event)
    assert.equal("lock", got.lock)
    assert.equal("semaphore", got.semaphore)
    assert.equal("condition", got.condition)
    assert.equal("channel receive", got["channel receive"])
    assert.equal("channel send", got["channel send"])
    assert.equal("join target", got.join)
    assert.matches("^start task%-%d+$", got.start)
    assert.equal("group (1 running)", got.group)
    assert.equal("group limit", got.limit)
    assert.equal("await", got.await)
    assert.equal("to_thread", got.to_thread)
  end)

  it("tcp accept, read, write and udp receive", function()
    local got = wait_names(function(g)
      local l = loom.tcp.listen("127.0.0.1", 0)
      local l2 = loom.tcp.listen("127.0.0.1", 0)
      local c = loom.tcp.connect("127.0.0.1", l2.port)
      local s = l2:accept()
      local c2 = loom.tcp.connect("127.0.0.1", l2.port)
      local s2 = l2:accept()          -- never read: c2's writes block
      local u = loom.udp.bind("127.0.0.1", 0)
      local objs = { l, l2, c, s, c2, s2, u }
      named(g, "accept", l.accept, l)
      named(g, "read", s.read, s)
      named(g, "write", function()
        local big = string.rep("x", 1 << 20)
        for _ = 1, 256 do c2:write(big) end
      end)
      named(g, "udp", u.receive_from, u)
      return { accept = 1, read = 1, write = 1, udp = 1 }, objs
    end)
    assert.equal("tcp accept", got.accept)
    assert.equal("tcp read", got.read)
    assert.equal("tcp write", got.write)
    assert.equal("udp receive", got.udp)
  end)

  it("pipe accept and read, process wait, signal", function()
    local path = os.tmpname()
    os.remove(path)
    local got = wait_names(function(g)
      local l = loom.pipe.listen(path)
      local l2 = loom.pipe.listen(path .. "2")
      local c = loom.pipe.connect(path .. "2")
      local s = l2:accept()
      local objs = { l, l2, c, s }
      named(g, "accept", l.accept, l)
      named(g, "read", s.read, s)
      named(g, "process", function()
        local p = loom.process.spawn{ "sleep", "10" }
        p:wait()
      end)
      named(g, "signal", loom.signal.wait, "SIGUSR2")
      return { accept = 1, read = 1, process = 1, signal = 1 }, objs
    end)
    os.remove(path)
    os.remove(path .. "2")
    assert.equal("pipe accept", got.accept)
    assert.equal("pipe read", got.read)
    assert.equal("process wait", got.process)
    assert.equal("signal", got.signal)
  end)

  it("fs <op> and dns (the thread pool held by FIFO opens)", function()
    local fifo = os.tmpname()
    os.remove(fifo)
    assert(os.execute("mkfifo " .. fifo))
    local pool = tonumber(os.getenv("UV_THREADPOOL_SIZE")) or 4
    local got
    loom.run(function()
      loom.with_group(function(g)
        for i = 1, pool do
          named(g, "open" .. i, function()
            local f = loom.fs.open(fifo, "r")
            f:close()
          end)
        end
        named(g, "dns", loom.dns.getaddrinfo, "localhost")
        until_true(function()
          return waiting_of("open1") == "fs open" and waiting_of("dns")
        end)
        got = { open = waiting_of("open1"), dns = waiting_of("dns") }
        local w = assert(io.open(fifo, "w"))   -- the opens go through
        w:close()
      end)
    end)
    os.remove(fifo)
    assert.equal("fs open", got.open)
    assert.equal("dns", got.dns)
  end)
end)

describe("loom.dump()", function()
  it("writes one line per task, indented by nesting, to any writer",
    S.async(function()
      local out = {}
      local sink = { write = function(_, s) out[#out + 1] = s end }
      local ev = loom.event()
      local lines = {}
      loom.with_group(function(g)
        lines.outer = here(); g:spawn(function()
          loom.timeout(5, function()
            loom.with_group(function(g2)
              lines.inner = here(); g2:spawn(ev.wait, ev).name = "inner"
              g2:spawn(loom.sleep, 10).name = "inner2"
            end)
          end)
        end).name = "outer"
        g:spawn(ev.wait, ev).name = "last"
        loom.sleep(0.02)
        loom.dump(sink)
        g:cancel()
      end)
      local text = table.concat(out)
      local l = {}
      for s in text:gmatch("[^\n]+") do l[#l + 1] = s end
      assert.equal(6, #l)
      assert.matches("^loom: 5 tasks, %d+%-%d+%-%d+ ", l[1])
      assert.matches("^task%-%d+  running  {group}  at ", l[2])
      assert.matches("^├─ task%-%d+ 'outer'  waiting for group %(2 running%), "
                     .. "0%.0%d s  deadline in 4%.9%d s  {timeout 4%.9%d s > group}"
                     .. "  at " .. lines.outer:gsub("%p", "%%%0") .. "$", l[3])
      assert.matches("^│  ├─ task%-%d+ 'inner'  waiting for event, 0%.0%d s  "
                     .. "deadline in 4%.9%d s  at "
                     .. lines.inner:gsub("%p", "%%%0") .. "$", l[4])
      assert.matches("^│  └─ task%-%d+ 'inner2'  waiting for sleep", l[5])
      assert.matches("^└─ task%-%d+ 'last'  waiting for event", l[6])
    end))

  it("defaults to stderr; a bad file is an argument error", function()
    local code, out = S.run_lua([[
      local loom = require "loom"
      loom.run(function()
        loom.with_group(function(g)
          g:spawn(loom.sleep, 1).name = "napper"
          loom.sleep(0.01)
          loom.dump()
          g:cancel()
        end)
      end)
    ]])
    assert.equal(0, code)
    assert.matches("loom: 2 tasks", out)
    assert.matches("└─ task%-2 'napper'  waiting for sleep", out)
    assert.matches("bad argument #1 to 'dump' %(file expected%)",
                   S.catch(loom.dump, 42))
  end)
end)

describe("loom.dump_on_signal", function()
  -- A child that says "ready" then waits; its stderr is captured.
  local child = [[
    local loom = require "loom"
    %s
    loom.run(function()
      loom.with_group(function(g)
        g:spawn(function() loom.sleep(0.6) end).name = "worker"
        io.stdout:write("ready\n"); io.stdout:flush()
        loom.sleep(0.6)
      end)
      io.stdout:write("went on\n")
    end)
  ]]

  local function run_child(setup, env, signal)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(child:format(setup))
    f:close()
    local res
    loom.run(function()
      local e = {
        LUA_PATH = "./lua/?.lua;./lua/?/init.lua;;",
        LUA_CPATH = "./" .. (os.getenv("LOOM_BUILD") or "build") .. "/?.so;;",
        PATH = os.getenv("PATH"),
      }
      for _, k in ipairs { "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                           "LSAN_OPTIONS", "TSAN_OPTIONS" } do
        e[k] = os.getenv(k)         -- the sanitizer runs (make asan)
      end
      for k, v in pairs(env or {}) do e[k] = v end
      local p = loom.process.spawn{ "lua5.4", path, env = e,
                                    stdout = "pipe", stderr = "pipe" }
      assert.equal("ready", p.stdout:read_line())
      p:kill(signal)
      local err = {}
      loom.with_group(function(g)
        g:spawn(function()
          for chunk in function() return p.stderr:read() end do
            err[#err + 1] = chunk
          end
        end)
        local rest = {}
        for chunk in function() return p.stdout:read() end do
          rest[#rest + 1] = chunk
        end
        local code, sig = p:wait()
        res = { code = code, sig = sig, out = table.concat(rest) }
      end)
      p.stdout:close()
      p.stderr:close()
      res.err = table.concat(err)
    end)
    os.remove(path)
    return res
  end

  it("writes the dump to stderr on the signal; the program goes on",
    function()
      local r = run_child('loom.dump_on_signal("SIGUSR1")', nil, "SIGUSR1")
      assert.equal(0, r.code)
      assert.matches("went on", r.out)
      assert.matches("loom: 2 tasks", r.err)
      assert.matches("task%-2 'worker'  waiting for sleep", r.err)
    end)

  it("LOOM_DUMP_SIGNAL does the same without changing the code", function()
    local r = run_child("", { LOOM_DUMP_SIGNAL = "SIGUSR2" }, "SIGUSR2")
    assert.equal(0, r.code)
    assert.matches("went on", r.out)
    assert.matches("task%-2 'worker'  waiting for sleep", r.err)
  end)

  it("dump_on_signal(false) gives the signal its default action back",
    function()
      local r = run_child('loom.dump_on_signal("SIGUSR1"); '
                          .. 'loom.dump_on_signal(false)', nil, "SIGUSR1")
      assert.equal("SIGUSR1", r.sig)
      assert.not_matches("loom: ", r.err)
    end)

  it("does not keep the loop alive; refuses SIGINT and bad names",
    function()
      loom.dump_on_signal("SIGUSR1")
      local t0 = loom.now()
      loom.run(function() loom.sleep(0.01) end)
      assert.is_true(loom.now() - t0 < 1)
      loom.dump_on_signal(nil)
      assert.matches("SIGINT is Ctrl%-C",
                     S.catch(loom.dump_on_signal, "SIGINT"))
      assert.matches("bad argument #1 to 'loom.dump_on_signal' %(unknown signal",
                     S.catch(loom.dump_on_signal, "SIGNOPE"))
    end)

  it("a bad LOOM_DUMP_SIGNAL is reported, not fatal", function()
    local code, out = S.run_cmd(
      "env LOOM_DUMP_SIGNAL=SIGNOPE LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' "
      .. "LUA_CPATH='./" .. (os.getenv("LOOM_BUILD") or "build")
      .. "/?.so;;' lua5.4 -e 'require \"loom\"; print(\"loaded\")' 2>&1")
    assert.equal(0, code)
    assert.matches("loom: LOOM_DUMP_SIGNAL=SIGNOPE: ", out)
    assert.matches("loaded", out)
  end)
end)

describe("tracebacks", function()
  local function three_levels()
    local lines = {}
    lines.main = here(); local ok, eg = pcall(loom.run, function()
      loom.current_task().name = "main"
      loom.with_group(function(g)
        lines.middle = here(); g:spawn(function()
          loom.with_group(function(g2)
            lines.leaf = here(); g2:spawn(function()
              error("deep", 0)
            end).name = "leaf"
          end)
        end).name = "middle"
      end)
    end)
    assert.is_false(ok)
    return eg, lines
  end

  it("end with the spawn chain up to the root", function()
    local eg, lines = three_levels()
    assert.equal("deep", eg:leaves()[1])
    local tb = eg.errors[1].tracebacks[1]            -- the leaf's
    local chain = tb:match("\nspawn chain:(.*)$")
    assert.is_not_nil(chain, tb)
    assert.equal("\n\ttask 'leaf' spawned at " .. lines.leaf
                 .. "\n\ttask 'middle' spawned at " .. lines.middle
                 .. "\n\ttask 'main' spawned at " .. lines.main, chain)
    -- The middle task's own traceback (its group failed) has its chain.
    assert.matches("spawn chain:\n\ttask 'middle' spawned at "
                   .. lines.middle:gsub("%p", "%%%0")
                   .. "\n\ttask 'main' spawned at", eg.tracebacks[1])
    -- And the message of the error escaping loom.run shows them.
    assert.matches("task 'leaf' spawned at", tostring(eg))
  end)

  it("leave out loom's own frames", function()
    local eg = three_levels()
    local tb = eg.errors[1].tracebacks[1]
    assert.matches("stack traceback:\n\t%[C%]: in function 'error'\n\t"
                   .. "spec/introspect_spec.lua:%d+: in function <[^\n]*\n"
                   .. "spawn chain:", tb)
    local mid = eg.tracebacks[1]
    assert.not_matches("group_exit", mid)
    assert.not_matches("loom/group%.lua", mid)
    assert.not_matches("%[C%]: in %?", mid)
    assert.matches("stack traceback:\n\tspec/introspect_spec.lua:%d+: in "
                   .. "function <", mid)
  end)

  it("keep them with loom.configure{ internal_frames = true }", function()
    loom.configure{ internal_frames = true }
    local ok, eg = pcall(three_levels)
    loom.configure{ internal_frames = false }
    assert.is_true(ok)
    assert.matches("loom/group%.lua", eg.tracebacks[1])
    assert.matches("%[C%]: in %?", eg.errors[1].tracebacks[1])
  end)

  it("of unhandled errors (loom.start) end with the chain", function()
    local code, out = S.run_lua([[
      local loom = require "loom"
      loom.start(function() error("lost", 0) end)
      loom.run(function() loom.sleep(0.01) end)
    ]])
    assert.equal(0, code)
    assert.matches("loom: unhandled error: lost\nin task 'task%-1':\n"
                   .. "stack traceback:\n\t%[C%]: in function 'error'\n"
                   .. "\t[^\n]+:2: in function <[^\n]+>\n"
                   .. "spawn chain:\n\ttask 'task%-1' spawned at [^\n]+:2\n",
                   out)
  end)

  it("a deep chain is cut after 20 tasks", function()
    local ok, eg = pcall(loom.run, function()
      local function nest(n)
        if n == 0 then error("bottom", 0) end
        loom.with_group(function(g) g:spawn(nest, n - 1) end)
      end
      nest(30)
    end)
    assert.is_false(ok)
    local e = eg
    while e.errors and loom.ErrorGroup:is(e.errors[1]) do e = e.errors[1] end
    local chain = e.tracebacks[1]:match("spawn chain:(.*)$")
    local n = select(2, chain:gsub("\n\ttask '", ""))
    assert.equal(20, n)
    assert.matches("\n\t%.%.%.$", chain)
  end)
end)

describe("the deadlock error", function()
  it("lists every blocked task with what it waits on and where it was "
     .. "spawned", function()
    local lines = {}
    local ok, e = pcall(loom.run, function()
      local ev = loom.event()
      loom.with_group(function(g)
        local t = g:spawn(ev.wait, ev); lines.ev = here()
        t.name = "stuck"
        g:spawn(function() t:join() end).name = "joiner"; lines.j = here()
      end)
    end)
    assert.is_false(ok)
    e = tostring(e)
    assert.matches("deadlock", e)
    assert.matches("Blocked tasks:", e)
    assert.matches("\n\ttask 'stuck' waiting for event %(spawned at "
                   .. lines.ev:gsub("%p", "%%%0") .. "%)", e)
    assert.matches("\n\ttask 'joiner' waiting for join stuck %(spawned at "
                   .. lines.j:gsub("%p", "%%%0") .. "%)", e)
    assert.matches("\n\ttask 'task%-%d+' waiting for group %(2 running%)", e)
  end)
end)

describe("loom.format_tree", function()
  it("refuses what is not a tree, with an argument error", function()
    assert.matches("bad argument #1 to 'format_tree' %(table expected",
                   S.catch(loom.format_tree, 5))
    local e = S.catch(function() loom.format_tree({ children = { 1 } }) end)
    assert.matches("introspect_spec.lua:%d+: bad argument #1 to "
                   .. "'format_tree' %(a node is a number", e)
  end)
end)
