-- Regressions (issue 10, items 6 and 10): process.spawn errors named
-- nothing (a missing command and a missing cwd both read "spawn: no such
-- file or directory"); and cancelling p:wait() killed only the direct
-- child: `sh -c "sleep 30; ..."` left sleep running. spec.process_group
-- = true spawns the child in a new process group, and cancel/kill
-- signal the whole group.
local loom = require "loom"
local S = require "spec.support"

-- Is process 'pid' alive (a zombie nobody has reaped yet counts as dead:
-- its parent, the shell, is gone)?
local function alive(pid)
  local f = io.open(("/proc/%d/stat"):format(pid))
  if f == nil then return false end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %b() (%a)") ~= "Z"
end

describe("process.spawn errors", function()
  it("name a missing command", S.async(function()
    local e = S.catch(loom.process.spawn, { "no-such-command-loom" })
    assert.is_true(loom.IOError:is(e))
    assert.equal("ENOENT", e.code)
    assert.truthy(tostring(e):find("no-such-command-loom", 1, true))
  end))

  it("name a missing cwd as the cause", S.async(function()
    local e = S.catch(loom.process.spawn,
                      { "true", cwd = "/no/such/dir/loom" })
    assert.is_true(loom.IOError:is(e))
    assert.truthy(tostring(e):find("cwd '/no/such/dir/loom'", 1, true))
  end))

  it("process.run names the command too", S.async(function()
    local e = S.catch(loom.process.run, { "no-such-command-loom2" })
    assert.truthy(tostring(e):find("no-such-command-loom2", 1, true))
  end))
end)

describe("spec.process_group", function()
  -- A shell that starts a grandchild and prints its pid, then waits.
  local script = "sleep 30 & echo $!; wait"

  it("cancelling the wait kills the whole group", S.async(function()
    local p = loom.process.spawn{ "sh", "-c", script, stdout = "pipe",
                                  process_group = true }
    local gpid = tonumber(p.stdout:read_line())
    assert.is_true(alive(gpid))
    loom.move_on_after(0.1, function() p:wait() end)
    -- the grandchild got the group's SIGTERM
    local t0 = loom.now()
    while alive(gpid) and loom.now() - t0 < 2 do loom.sleep(0.01) end
    assert.is_false(alive(gpid))
    p.stdout:close()
  end))

  it("p:kill signals the whole group", S.async(function()
    local p = loom.process.spawn{ "sh", "-c", script, stdout = "pipe",
                                  process_group = true }
    local gpid = tonumber(p.stdout:read_line())
    p:kill("SIGKILL")
    local code, sig = p:wait()
    assert.is_nil(code)
    assert.equal("SIGKILL", sig)
    local t0 = loom.now()
    while alive(gpid) and loom.now() - t0 < 2 do loom.sleep(0.01) end
    assert.is_false(alive(gpid))
    p.stdout:close()
  end))

  it("without it, only the direct child is signalled", S.async(function()
    local p = loom.process.spawn{ "sh", "-c", script, stdout = "pipe" }
    local gpid = tonumber(p.stdout:read_line())
    loom.move_on_after(0.1, function() p:wait() end)
    loom.sleep(0.05)
    assert.is_true(alive(gpid))    -- documented: the grandchild goes on
    os.execute(("kill %d"):format(gpid))
    p.stdout:close()
  end))
end)
