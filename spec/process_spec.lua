-- loom.process (lua/loom/process.lua, csrc/process.c): spawn, run, wait,
-- kill, piped stdio, and "no zombie ever" (checked in /proc).
local loom = require "loom"
local S = require "spec.support"
local IO = require "spec.io_support"

local async, reaped = IO.async, IO.reaped

describe("loom.process.spawn", function()
  it("returns a Process with a pid; wait gives the exit code",
     async(function()
    local p = loom.process.spawn{ "sh", "-c", "exit 3" }
    assert.is_true(math.type(p.pid) == "integer" and p.pid > 0)
    assert.is_nil(p.stdin)
    local code, sig = p:wait()
    assert.equal(3, code)
    assert.is_nil(sig)
    assert.same({ 3, nil }, { p:wait() })   -- again, at once
    assert.is_true(reaped(p.pid))
  end))

  it("pipes stdin and stdout as Streams", async(function()
    local p = loom.process.spawn{ "cat", stdin = "pipe", stdout = "pipe" }
    p.stdin:write("through cat\n")
    assert.equal("through cat", p.stdout:read_line())
    p.stdin:close()
    assert.is_nil(p.stdout:read())
    assert.equal(0, (p:wait()))
    p.stdout:close()
  end))

  it("pipes stderr apart from stdout", async(function()
    local p = loom.process.spawn{ "sh", "-c", "echo out; echo err >&2",
                                  stdout = "pipe", stderr = "pipe" }
    assert.equal("out", p.stdout:read_line())
    assert.equal("err", p.stderr:read_line())
    p:wait()
    p.stdout:close(); p.stderr:close()
  end))

  it("connects 'null' streams to /dev/null", async(function()
    local p = loom.process.spawn{ "sh", "-c", "cat; echo done >&2",
                                  stdin = "null", stderr = "pipe" }
    assert.equal("done", p.stderr:read_line())
    assert.equal(0, (p:wait()))
    p.stderr:close()
  end))

  it("runs in cwd with exactly the env given", async(function()
    local r = loom.process.run{ "sh", "-c", 'pwd; echo "$FOO:$HOME"',
                                cwd = "/tmp", env = { FOO = "bar" } }
    assert.equal(0, r.code)
    assert.equal("/tmp\nbar:\n", r.stdout)
  end))

  it("raises IOError ENOENT for a missing command", async(function()
    local e = S.catch(loom.process.spawn, { "no-such-command-loom" })
    assert.is_true(loom.IOError:is(e))
    assert.equal("ENOENT", e.code)
    assert.equal("spawn", e.op)
  end))

  it("reports spec errors at the caller's line, for spawn and run",
     async(function()
    IO.argerror(function() loom.process.spawn{ "true", stdout = "file" } end,
                "bad argument #1 to 'spawn' (spec.stdout must be \"inherit\", "
                .. "\"null\" or \"pipe\", got \"file\")")
    IO.argerror(function() loom.process.run{ "true", stdin = 4 } end,
                "bad argument #1 to 'run' (spec.stdin must be")
    IO.argerror(function() loom.process.spawn{ "true", env = 1 } end,
                "bad argument #1 to 'spawn' (spec.env must be a table)")
    IO.argerror(function() loom.process.spawn{ "true", cwd = {} } end,
                "bad argument #1 to 'spawn' (spec.cwd must be a string)")
    IO.argerror(function() loom.process.spawn{ {} } end,
                "bad argument #1 to 'spawn' (spec[1] must be a string")
  end))

  it("checks its spec", async(function()
    assert.matches("table expected", S.catch(loom.process.spawn, "ls"))
    assert.matches("command", S.catch(loom.process.spawn, {}))
    assert.matches("stdout", S.catch(loom.process.spawn,
                                     { "true", stdout = "file" }))
    assert.matches("env", S.catch(loom.process.spawn,
                                  { "true", env = "X=1" }))
  end))

  it("raises Cancelled in a cancelled scope without spawning",
     async(function()
    local spawned = false
    loom.scope(function(sc)
      sc:cancel()
      spawned = pcall(loom.process.spawn, { "true" })
    end)
    assert.is_false(spawned)
  end))
end)

describe("Process:kill", function()
  it("sends SIGTERM by default; wait reports the signal", async(function()
    local p = loom.process.spawn{ "sleep", "10" }
    assert.is_true(p:kill())
    assert.same({ nil, "SIGTERM" }, { p:wait() })
    assert.is_false(p:kill())            -- already reaped
  end))

  it("takes a name or a number", async(function()
    local p = loom.process.spawn{ "sleep", "10" }
    p:kill("SIGKILL")
    assert.same({ nil, "SIGKILL" }, { p:wait() })
    local q = loom.process.spawn{ "sleep", "10" }
    q:kill(9)
    assert.same({ nil, "SIGKILL" }, { q:wait() })
    assert.matches("unknown signal", S.catch(q.kill, q, "SIGNOPE"))
    IO.argerror(function() q:kill("SIGNOPE") end,
                "bad argument #1 to 'kill' (unknown signal 'SIGNOPE')")
  end))
end)

describe("Process:wait", function()
  it("cancelled while blocked terminates and reaps the child",
     async(function()
    local p = loom.process.spawn{ "sleep", "10" }
    local t0 = loom.now()
    assert.is_nil(loom.move_on_after(0.1, function() return p:wait() end))
    assert.is_true(loom.now() - t0 < 1)
    assert.is_true(reaped(p.pid))      -- no zombie, no process
    assert.same({ nil, "SIGTERM" }, { p:wait() })
  end))

  it("escalates to SIGKILL after a 1 s grace", async(function()
    local p = loom.process.spawn{ "sh", "-c", "trap '' TERM; echo ready; "
                                  .. "exec sleep 10", stdout = "pipe" }
    assert.equal("ready", p.stdout:read_line())
    local t0 = loom.now()
    local ok, e = pcall(loom.timeout, 0.05, function() return p:wait() end)
    local dt = loom.now() - t0
    assert.is_false(ok)
    assert.is_true(loom.TimeoutError:is(e))
    assert.is_true(dt >= 1.0, dt)
    assert.is_true(dt < 3, dt)
    assert.is_true(reaped(p.pid))
    assert.same({ nil, "SIGKILL" }, { p:wait() })
    p.stdout:close()
  end))

  it("with an expired deadline terminates and reaps the child",
     async(function()
    local p = loom.process.spawn{ "sleep", "10" }
    local ok, e = pcall(loom.timeout, 0, function() return p:wait() end)
    assert.is_false(ok)
    assert.is_true(loom.TimeoutError:is(e))
    assert.is_true(reaped(p.pid))
  end))

  it("with an expired deadline after the exit just raises",
     async(function()
    local p = loom.process.spawn{ "true" }
    assert.equal(0, (p:wait()))
    local ok, e = pcall(loom.timeout, 0, function() return p:wait() end)
    assert.is_false(ok)
    assert.is_true(loom.TimeoutError:is(e))
  end))

  it("under a shield waits for the exit", async(function()
    local p = loom.process.spawn{ "sh", "-c", "sleep 0.1; exit 7" }
    local code
    loom.scope(function(sc)
      sc:cancel()
      loom.shield(function() code = p:wait() end)
    end)
    assert.equal(7, code)
  end))

  it("cancelled at the moment the child exits loses nothing",
     async(function()
    local p = loom.process.spawn{ "sh", "-c", "sleep 0.05; exit 5" }
    local t
    loom.with_group(function(g)
      t = g:spawn(function() p:wait(); loom.sleep(10) end)
      loom.sleep(0.045)
      while IO.proc_state(p.pid) ~= nil and IO.proc_state(p.pid) ~= "Z" do
        loom.sleep(0.001)
      end
      t:cancel()
    end)
    assert.equal("cancelled", t.status)
    local code, sig = p:wait()
    -- It exited by itself (5), or the cancel came first and stopped it.
    assert.is_true(code == 5 or sig == "SIGTERM")
    assert.is_true(reaped(p.pid))
  end))

  it("wakes every waiting task", async(function()
    local p = loom.process.spawn{ "sh", "-c", "sleep 0.05; exit 2" }
    local codes = {}
    loom.with_group(function(g)
      for i = 1, 3 do g:spawn(function() codes[i] = p:wait() end) end
    end)
    assert.same({ 2, 2, 2 }, codes)
  end))
end)

describe("no zombie", function()
  it("a child nobody waits for is reaped when it exits", async(function()
    local p = loom.process.spawn{ "true" }
    local pid = p.pid
    p = nil -- luacheck: ignore 311 (drops the last reference)
    collectgarbage()
    collectgarbage()
    loom.sleep(0.2)
    assert.is_true(reaped(pid))
  end))

  it("loom.run terminates and reaps children still running at its end",
     function()
    local pids = {}
    local t0 = loom.now()
    loom.run(function()
      pids[1] = loom.process.spawn{ "sleep", "10" }.pid
      pids[2] = loom.process.spawn{ "true" }.pid
    end)
    assert.is_true(loom.now() - t0 < 1)
    assert.is_true(reaped(pids[1]))
    assert.is_true(reaped(pids[2]))
    require("loom.testing").assert_clean()
  end)

  it("loom.run leaves alone the children of loom.start's tasks, which "
     .. "loom.shutdown ends", function()
    local pid, t
    local t0 = loom.now()
    loom.run(function()
      local ev = loom.event()
      t = loom.start(function()
        local p = loom.process.spawn{ "sleep", "10" }
        pid = p.pid
        ev:set()
        p:wait()
      end)
      ev:wait()
    end)
    assert.is_true(loom.now() - t0 < 1)    -- not held up by the child
    assert.equal("running", t.status)
    assert.is_false(reaped(pid))           -- nor did it terminate it
    loom.shutdown()          -- cancels t: its wait terminates the child
    assert.equal("cancelled", t.status)
    assert.is_true(reaped(pid))
    require("loom.testing").assert_clean()
  end)
end)

describe("loom.process.run", function()
  it("captures stdout, stderr and the exit code", async(function()
    local r = loom.process.run{ "sh", "-c", "echo out; echo err >&2; exit 4" }
    assert.same({ code = 4, stdout = "out\n", stderr = "err\n" }, r)
  end))

  it("feeds input and closes stdin", async(function()
    local r = loom.process.run{ "tr", "a-z", "A-Z", input = "shout" }
    assert.equal(0, r.code)
    assert.equal("SHOUT", r.stdout)
  end))

  it("moves a megabyte each way", async(function()
    local big = string.rep("0123456789abcdef", 65536)
    local r = loom.process.run{ "cat", input = big }
    assert.equal(#big, #r.stdout)
    assert.equal(big, r.stdout)
  end))

  it("does not fail when the child ignores its input", async(function()
    local r = loom.process.run{ "true", input = string.rep("x", 1 << 20) }
    assert.equal(0, r.code)
  end))

  it("reports a signal", async(function()
    local r = loom.process.run{ "sh", "-c", "kill -KILL $$" }
    assert.is_nil(r.code)
    assert.equal("SIGKILL", r.signal)
  end))

  it("leaves streams not piped out of the result", async(function()
    local r = loom.process.run{ "true", stdout = "null", stderr = "null" }
    assert.same({ code = 0 }, r)
  end))

  it("cancelled, terminates and reaps the child", async(function()
    local pidfile = os.tmpname()
    local ok, e = pcall(loom.timeout, 0.2, function()
      loom.process.run{ "sh", "-c", 'echo $$ > "$0"; exec sleep 7', pidfile }
    end)
    assert.is_false(ok)
    assert.is_true(loom.TimeoutError:is(e))
    local f = assert(io.open(pidfile))
    local pid = f:read("n")
    f:close()
    os.remove(pidfile)
    assert.is_true(math.type(pid) == "integer")
    assert.is_true(reaped(pid))       -- neither running nor a zombie
  end))
end)
