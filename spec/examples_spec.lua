-- The examples print what their tutorials describe (examples/*.lua, run
-- as `make demo` runs them, in a child lua5.4 with the in-tree build).
local S = require "spec.support"

local function run(name, secs)
  local status, out = S.run_lua(("arg = {}; dofile(%q)"):format(
    "examples/" .. name .. ".lua"), secs or 20)
  assert.equal(0, status, out)
  return out
end

local function lines_in_order(out, patterns)
  local pos = 1
  for _, p in ipairs(patterns) do
    local a, b = out:find(p, pos)
    assert(a, ("expected %q after position %d in:\n%s"):format(p, pos, out))
    pos = b + 1
  end
end

describe("examples", function()
  it("01: three tasks sleep 1 s concurrently, then Done", function()
    local out = run("01_hello_group")
    lines_in_order(out, { "task 1: start", "task 3: start", "task 1: end",
                          "task 3: end", "Done %(1%.%d s%)" })
  end)

  it("02: nine results read with t:result() after the group", function()
    local out = run("02_results")
    for v = 1, 9 do
      assert.matches(("task %d %%(ok%%): %d00"):format(v, v), out)
    end
  end)

  it("03: task 2 fails; 1 and 3 are cancelled; the ErrorGroup", function()
    local out = run("03_failure")
    assert.matches("task 1: done=true cancelled=true status=cancelled", out)
    assert.matches("task 2: done=true cancelled=false status=error", out)
    assert.matches("task 3: done=true cancelled=true status=cancelled", out)
    lines_in_order(out, { "ErrorGroup: true",
      "loom.ErrorGroup: 1 error in group 'example%-3'", "%[1%] .-task 2 failed",
      "in task 'task2'", "stack traceback:" })
  end)

  it("04: only the task cancelled by hand is cancelled", function()
    local out = run("04_cancel_one")
    assert.matches("task 1: ok task 1 finished", out)
    assert.matches("task 2: cancelled", out)
    assert.matches("task 3: ok task 3 finished", out)
  end)

  it("05: a 1 s timeout around six sleepers", function()
    local out = run("05_timeout_group")
    assert.matches("after 1%.0%d s: timeout raised true", out)
    assert.matches("TimeoutError:is%(err%) = true", out)
    for i = 0, 3 do
      assert.matches(("task %d: finished, result %d"):format(i, i), out)
    end
    assert.matches("task 4: cancelled", out)
    assert.matches("task 5: cancelled", out)
  end)

  it("06: one batch deadline succeeds where per-call timeouts fail",
    function()
      local out = run("06_batch_deadline", 30)
      assert.matches("one 6 s deadline for the batch: succeeded after 5%.%d s",
                     out)
      assert.matches("per%-call 4 s timeout, 2 s job: 2 s job done", out)
      assert.matches("per%-call 4 s timeout, 5 s job: failed: "
                     .. "loom%.TimeoutError", out)
    end)

  it("07: a channel pipeline shut down by close", function()
    local out = run("07_pipeline")
    assert.matches("sum of squares 1%.%.20 = 2870", out)
    assert.matches("refused %(loom: send on a closed channel%)", out)
  end)

  it("08: 100 jobs, limit 8, an overall timeout, a summary", function()
    local out = run("08_crawler")
    assert.matches("at most 8 at once %(peak 8%)", out)
    assert.matches("loom%.TimeoutError", out)
    assert.matches("fetched: +%d+ pages", out)
  end)

  it("09: an echo server serves its clients and stops", function()
    local out = run("09_echo_server")
    assert.matches("client 3 got back: client 3, line 3", out)
    assert.matches("server: stopped, every connection finished", out)
  end)

  it("10: the port scanner finds its own listeners", function()
    assert.matches("found both listeners: true", run("10_port_scanner"))
  end)

  it("11: a subprocess pipeline", function()
    local out = run("11_subprocess_pipeline")
    assert.matches("pipeline: apple +x3", out)
    assert.matches("timeout: loom%.TimeoutError", out)
  end)

  it("12: files", function()
    local out = run("12_files")
    assert.matches("code ENOENT, op open", out)
    assert.matches("cleaned up: true", out)
  end)

  it("13: the task tree dump, the same as the README shows", function()
    local out = run("13_debug_dump")
    assert.matches("log: hello", out)
    -- Times differ from run to run; the rest must match the README.
    local function norm(text)
      return (text:gsub("%d+%.%d+ s", "N s")
                  :gsub("%d+%-%d+%-%d+ %d+:%d+:%d+", "DATE")
                  :gsub("loom%.now%(%) = [%d.]+", "loom.now() = T"))
    end
    local dump = out:match("(loom: 5 tasks.-)\nexit=%d+%s*$")
    assert.is_not_nil(dump, out)
    local f = assert(io.open("README.md"))
    local readme = f:read("a")
    f:close()
    local block = readme:match("<!%-%- dump:begin %-%->\n(.-)<!%-%- dump:end %-%->")
    assert.is_not_nil(block, "README: no dump block")
    block = block:gsub("\n$", ""):gsub("^    ", ""):gsub("\n    ", "\n")
    assert.equal(norm(block), norm(dump),
                 "README's dump is out of date: paste the output of "
                 .. "examples/13_debug_dump.lua")
  end)

  it("16: HTTPS both ends: three answers, one deadline", function()
    local out = run("16_https")
    assert.matches("GET /hello   %-> 200 hello over TLS", out)
    assert.matches("GET /time    %-> 200 loom.now%(%) = ", out)
    assert.matches("GET /missing %-> 404 no such page", out)
    assert.matches("GET /slow    %-> no answer within 0.5 s", out)
  end)
end)
