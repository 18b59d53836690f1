-- Ctrl-C (csrc/signal.c: loom__sigint_arm/disarm): a child lua5.4 running
-- loom with the in-tree build gets SIGINT from this process.
local loom = require "loom"
local IO = require "spec.io_support"

local async = IO.async

-- Run `script` in a child lua5.4; once it has printed "ready", send it
-- `count` SIGINTs (0.1 s apart). Returns the child's stdout, stderr, exit
-- code and signal.
local function interrupt(script, count)
  local p = loom.process.spawn{ "lua5.4", "-e", script, env = IO.env,
                                stdout = "pipe", stderr = "pipe" }
  local out, err = {}, {}
  local code, sig
  loom.timeout(10, function()
    assert.equal("ready", p.stdout:read_line())
    for i = 1, count or 1 do
      if i > 1 then loom.sleep(0.1) end
      p:kill("SIGINT")
    end
    loom.with_group(function(g)
      g:spawn(function()
        for line in function() return p.stdout:read_line() end do
          out[#out + 1] = line
        end
      end)
      g:spawn(function()
        for line in function() return p.stderr:read_line() end do
          err[#err + 1] = line
        end
      end)
      code, sig = p:wait()
    end)
  end)
  p.stdout:close(); p.stderr:close()
  return out, err, code, sig
end

describe("Ctrl-C during loom.run", function()
  it("cancels the task tree, runs cleanup, raises loom.Interrupted",
     async(function()
    local out, err, code = interrupt([[
      local loom = require "loom"
      loom.run(function()
        loom.with_group(function(g)
          g:spawn(function()
            local ok, e = pcall(loom.sleep, 30)
            print("child pcall: " .. tostring(loom.is_cancelled(e)))
            loom.shield(function() loom.sleep(0.05) end)
            print("child shielded cleanup done")
            error(e, 0)
          end)
          local c <close> = setmetatable({}, { __close = function()
            print("root <close> ran")
          end })
          io.stdout:write("ready\n"); io.stdout:flush()
          loom.sleep(30)
        end)
      end)
      print("not reached")
    ]])
    table.sort(out)
    assert.same({ "child pcall: true", "child shielded cleanup done",
                  "root <close> ran" }, out)
    assert.is_true(code ~= 0)
    assert.equal(1, #err, table.concat(err, "\n"))
    assert.matches("loom.Interrupted", err[1])
  end))

  it("is a loom.Interrupted that the caller of loom.run can catch",
     async(function()
    local out, _, code = interrupt([[
      local loom = require "loom"
      local ok, e = pcall(loom.run, function()
        io.stdout:write("ready\n"); io.stdout:flush()
        loom.sleep(30)
      end)
      print(ok, loom.Interrupted:is(e))
      -- loom runs again afterwards, and Ctrl-C outside it is Lua's again.
      print(loom.run(function() loom.sleep(0.01); return "again" end))
    ]])
    assert.same({ "false\ttrue", "again" }, out)
    assert.equal(0, code)
  end))

  it("goes to a task waiting in signal.wait('SIGINT') instead",
     async(function()
    local out, _, code = interrupt([[
      local loom = require "loom"
      loom.run(function()
        loom.with_group(function(g)
          g:spawn(function()
            loom.signal.wait("SIGINT")
            print("graceful shutdown")
            g:cancel()
          end)
          loom.sleep(0.05)
          io.stdout:write("ready\n"); io.stdout:flush()
          loom.sleep(30)
        end)
        print("run ends normally")
      end)
    ]])
    assert.same({ "graceful shutdown", "run ends normally" }, out)
    assert.equal(0, code)
  end))

  it("a second Ctrl-C during the cleanup kills the process at once",
     async(function()
    local t0 = loom.now()
    local out, _, code, sig = interrupt([[
      local loom = require "loom"
      loom.run(function()
        io.stdout:write("ready\n"); io.stdout:flush()
        local ok, e = pcall(loom.sleep, 30)
        print("cleanup starts")
        io.stdout:flush()
        loom.shield(function() loom.sleep(30) end)
        print("not reached")
      end)
    ]], 2)
    assert.same({ "cleanup starts" }, out)
    assert.is_nil(code)
    assert.equal("SIGINT", sig)
    assert.is_true(loom.now() - t0 < 5)
  end))

  it("gives SIGINT back to Lua when loom.run returns", async(function()
    local _, err, code = interrupt([[
      local loom = require "loom"
      loom.run(function() loom.sleep(0.01) end)
      io.stdout:write("ready\n"); io.stdout:flush()
      local t0 = os.clock()
      while os.clock() - t0 < 5 do end   -- lua.c's handler stops this
      print("not reached")
    ]])
    assert.equal(1, code)
    assert.matches("interrupted", table.concat(err, "\n"))
  end))
end)
