-- Bad input gets a clear Lua error, never a crash: every public function
-- and every method of every loom object, called with values of every type
-- (nil, booleans, numbers incl. NaN and huge, strings, tables, functions,
-- threads, userdata), inside a task. Runs in a child process so that a
-- crash fails this spec instead of killing the test run.
local S = require "spec.support"

local FUZZ = [==[
local loom = require "loom"
-- Strings are paths under a directory that does not exist: the fs calls
-- fail (ENOENT) and touch nothing.
local nowhere = "/nonexistent-loom-fuzz/x"
local vals = { false, true, 0, -1, 1e308, 0/0, "", nowhere, {}, function() end, coroutine.create(function() end), io.stdout }
local n, errs = 0, 0
vals[#vals + 1] = "NILMARK"
local function val(a) if a == "NILMARK" then return nil end return a end
local function try(f, ...)
  n = n + 1
  local ok = pcall(f, ...)
  if not ok then errs = errs + 1 end
end
local function fuzz_table(t, self)
  for k, f in pairs(t) do
    if type(f) == "function" and k ~= "run" and k ~= "shutdown" and k ~= "use_luv" and k ~= "on_unhandled" and k ~= "start" then
      for _, a in ipairs(vals) do
        try(loom.move_on_after, 0.02, function() return f(val(a)) end)
        if self then try(loom.move_on_after, 0.02, function() return f(self, val(a)) end) end
        try(loom.move_on_after, 0.02, function() return f(val(a), val(a), val(a)) end)
      end
    end
  end
end
loom.run(function()
  fuzz_table(loom)
  for _, ns in ipairs { "tcp", "pipe", "udp", "dns", "fs", "process", "signal" } do fuzz_table(loom[ns]) end
  -- objects
  local objs = { loom.event(), loom.lock(), loom.semaphore(1), loom.condition(), loom.channel(1) }
  local u = loom.udp.bind("127.0.0.1", 0); objs[#objs+1] = u
  local l = loom.tcp.listen("127.0.0.1", 0); objs[#objs+1] = l
  local c = loom.tcp.connect("127.0.0.1", l.port); objs[#objs+1] = c
  loom.with_group(function(g)
    objs[#objs+1] = g
    local t = g:spawn(function() end); objs[#objs+1] = t
    loom.scope(function(s)
      objs[#objs+1] = s
      for _, o in ipairs(objs) do
        local mt = getmetatable(o)
        local idx = mt and mt.__index
        local names = {}
        if type(idx) == "table" then for k in pairs(idx) do names[#names+1] = k end end
        for _, k in ipairs { "join", "wait", "result", "cancel", "spawn", "start", "read", "write", "read_line", "read_exactly", "close", "send", "receive", "send_to", "receive_from", "acquire", "release", "with", "set", "notify", "reschedule", "accept", "serve", "try_send", "try_receive", "iter", "shutdown", "peername", "sockname", "set_nodelay", "locked", "is_set", "clear", "notify_all", "expired", "done", "cancelled", "stat", "kill" } do names[#names+1] = k end
        for _, k in ipairs(names) do
          local ok, f = pcall(function() return o[k] end)
          if ok and type(f) == "function" then
            for _, a in ipairs(vals) do
              try(loom.move_on_after, 0.02, function() return f(o, val(a)) end)
              try(loom.move_on_after, 0.02, function() return f(val(a)) end)
            end
          end
        end
        for _, k in ipairs { "name", "deadline", "shield", "status", "x" } do
          for _, a in ipairs(vals) do try(function() o[k] = val(a) end) end
        end
      end
    end)
    g:cancel()
  end)
  c:close(); l:close(); u:close()
end)
print(("fuzz: %d calls, %d raised, no crash"):format(n, errs))
]==]

describe("bad arguments", function()
  it("raise Lua errors and never crash, for every public function and "
     .. "method", function()
    local status, out = S.run_lua(FUZZ, 120)
    assert.equal(0, status, out)
    local calls, raised = out:match("fuzz: (%d+) calls, (%d+) raised")
    assert.is_truthy(calls, out)
    assert.is_true(tonumber(calls) > 3000, out)   -- the fuzz really ran
    assert.is_true(tonumber(raised) > 1000, out)  -- and was refused a lot
  end)
end)
