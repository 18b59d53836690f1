-- mem.lua: where a parked task's bytes go, from the Lua heap's own count
-- (collectgarbage "count", GC stopped), for raw coroutines and loom tasks
-- (profiling aid, not a benchmark). Run from the repository root:
--   LUA_PATH='./bench/lib/?.lua;./lua/?.lua;./lua/?/init.lua;;' \
--   LUA_CPATH='./build/?.so;;' lua5.4 bench/prof/mem.lua [N]
local loom = require "loom"
local N = math.tointeger(tonumber(arg[1] or "")) or 20000

local function kb() return collectgarbage("count") * 1024 end
local function per(a, b) return (b - a) / N end

collectgarbage() collectgarbage() collectgarbage("stop")

-- Raw: created, then parked in a yield (as in bench/raw/w5.lua).
do
  local waiters = {}
  local function w() waiters[#waiters + 1] = coroutine.running()
                      coroutine.yield() end
  local cos = {}
  for i = 1, N do cos[i] = false end   -- pre-size the array
  local a = kb()
  for i = 1, N do cos[i] = coroutine.create(w) end
  local b = kb()
  for i = 1, N do coroutine.resume(cos[i]) end
  local c = kb()
  print(string.format("raw : created %5.0f B/task, parked +%4.0f B " ..
    "(waiter list included) = %5.0f B/task", per(a, b), per(b, c),
    per(a, c)))
  for i = 1, N do coroutine.resume(cos[i]) end
end
collectgarbage("restart") collectgarbage() collectgarbage() collectgarbage("stop")

-- loom: spawned (not run yet), then parked in t:join() of a gate task.
loom.run(function()
  local gate_open = false
  loom.with_group(function(g)
    local gate = g:spawn(function()
      while not gate_open do loom.sleep(0.001) end
    end)
    loom.sleep(0)
    collectgarbage() collectgarbage() collectgarbage("stop")
    local function w() gate:join() end
    local a = kb()
    for _ = 1, N do g:spawn(w) end
    local b = kb()
    loom.sleep(0)
    local c = kb()
    print(string.format("loom: spawned %5.0f B/task, parked +%4.0f B " ..
      "= %5.0f B/task", per(a, b), per(b, c), per(a, c)))
    gate_open = true
  end)
end)
