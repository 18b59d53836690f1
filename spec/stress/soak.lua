-- spec/stress/soak.lua: one process, many lifetimes (make stress).
--   1. SOAK_TASKS task lifetimes (default 10^6), in groups of 1000, of
--      several kinds (return, yield, sleep, a timeout that fires, an error
--      caught by a group, a cancelled child);
--   2. SOAK_CONNS TCP connections (default 10^4) opened, used and closed
--      on loopback, 4 clients at a time, against a loom.tcp server.
-- After a warm-up (the first tenth), the resident set size (from
-- /proc/self/statm) and the number of open file descriptors
-- (loom.core.io_stats().fds) must stay within SOAK_SLACK (default 5 %) of
-- their value at the end of the warm-up; every figure is printed.
-- Exits 1 on a failure. Run from the repository root:
--   LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' LUA_CPATH='./build/?.so;;' \
--     lua5.4 spec/stress/soak.lua
local build = os.getenv("LOOM_BUILD") or "build"
package.path = "./lua/?.lua;./lua/?/init.lua;./?.lua;" .. package.path
package.cpath = "./" .. build .. "/?.so;" .. package.cpath

local loom = require "loom"
local testing = require "loom.testing"
local core = loom.core

local NTASKS = math.tointeger(tonumber(os.getenv("SOAK_TASKS") or "")) or
               1000000
local NCONNS = math.tointeger(tonumber(os.getenv("SOAK_CONNS") or "")) or
               10000
local SLACK = tonumber(os.getenv("SOAK_SLACK") or "") or 0.05
local PAGE = 4096
do
  local p = io.popen("getconf PAGESIZE 2>/dev/null")
  if p then
    PAGE = tonumber(p:read("l") or "") or PAGE
    p:close()
  end
end

local function rss()
  local f = assert(io.open("/proc/self/statm"))
  local _, res = f:read("n", "n")
  f:close()
  return res * PAGE
end
local function fds() return core.io_stats().fds end
local function mib(b) return ("%.1f MiB"):format(b / 1048576) end

local failures = 0
local function check(what, base, last, peak)
  local limit = base * (1 + SLACK)
  local ok = peak <= limit + 0.5
  print(("  %-22s after warm-up %s, peak %s, at the end %s (%+.1f %%): %s")
        :format(what, base, peak, last, base > 0 and 100 * (last - base) / base
                or 0, ok and "flat" or "GREW"))
  if not ok then failures = failures + 1 end
end

-- {===================================================================
-- 1. Task lifetimes
-- ===================================================================}

local function work(i)
  local k = i % 6
  if k == 0 then return i
  elseif k == 1 then loom.sleep(0)
  elseif k == 2 then loom.sleep(0.000001)
  elseif k == 3 then loom.move_on_after(0, function() loom.sleep(1) end)
  elseif k == 4 then
    local ok = pcall(loom.with_group, function(g)
      g:spawn(error, { i })
    end)
    assert(not ok)
  else
    loom.with_group(function(g)
      local t = g:spawn(function() loom.sleep(1) end)
      loom.sleep(0)
      t:cancel()
    end)
  end
end

local function soak_tasks()
  local B = 1000
  local batches = math.max(1, NTASKS // B)
  local warm = math.max(1, batches // 10)
  local base_rss, base_fds, peak_rss, peak_fds
  local t0 = os.clock()
  testing.run(function()
    for b = 1, batches do
      loom.with_group(function(g)
        for i = 1, B do g:spawn(work, i) end
      end)
      if b % 50 == 0 or b == warm or b == batches then
        collectgarbage()
        local r, f = rss(), fds()
        if b == warm then
          base_rss, base_fds, peak_rss, peak_fds = r, f, r, f
        elseif b > warm then
          peak_rss, peak_fds = math.max(peak_rss, r), math.max(peak_fds, f)
        end
      end
    end
  end)
  testing.assert_clean()
  collectgarbage()
  local last_rss, last_fds = rss(), fds()
  print(("soak: %d task lifetimes in %.1f s CPU (%.2f us each); Lua heap "
         .. "%.0f KiB"):format(batches * B, os.clock() - t0,
         (os.clock() - t0) * 1e6 / (batches * B), collectgarbage("count")))
  check("RSS", base_rss, last_rss, math.max(peak_rss, last_rss))
  print(("  (RSS %s after warm-up, %s at the end)"):format(mib(base_rss),
        mib(last_rss)))
  check("open fds", base_fds, last_fds, math.max(peak_fds, last_fds))
end

-- {===================================================================
-- 2. TCP connections
-- ===================================================================}

local function soak_tcp()
  local clients = 4
  local per = math.max(1, NCONNS // clients)
  local total = per * clients
  local warm = math.max(1, total // 10)
  local done = 0
  local base_rss, base_fds, peak_rss, peak_fds
  local t0, w0 = os.clock(), loom.now()
  local function sample()
    -- Only between connections of every client: wait until the server's
    -- handlers have closed their side too.
    collectgarbage()
    local r, f = rss(), fds()
    if base_rss == nil then
      base_rss, base_fds, peak_rss, peak_fds = r, f, r, f
    else
      peak_rss, peak_fds = math.max(peak_rss, r), math.max(peak_fds, f)
    end
  end
  loom.run(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local port = l.port
    loom.with_group(function(server)
      server:spawn(function()
        l:serve(function(s)
          local line = s:read_line()
          if line then s:write(line .. "\n") end
        end)
      end)
      local rounds = per // 10
      for round = 1, 10 do
        loom.with_group(function(g)
          for c = 1, clients do
            g:spawn(function()
              for i = 1, rounds + (round == 10 and per % 10 or 0) do
                local s = loom.tcp.connect("127.0.0.1", port)
                s:write(("ping %d %d\n"):format(c, i))
                local back = s:read_line()
                assert(back == ("ping %d %d"):format(c, i), back)
                s:close()
                done = done + 1
              end
            end)
          end
        end)
        -- every client is between connections: let the handlers finish
        for _ = 1, 20 do
          if core.io_stats().open <= 1 then break end
          loom.sleep(0.01)
        end
        if round == 1 or round == 10 or done >= warm then sample() end
      end
      server:cancel()
    end)
    l:close()
  end)
  testing.assert_clean()
  collectgarbage()
  local last_rss, last_fds = rss(), fds()
  print(("soak: %d TCP connections in %.1f s (%.1f s CPU, %.0f per s)")
        :format(done, loom.now() - w0, os.clock() - t0,
                done / (loom.now() - w0)))
  check("RSS", base_rss, last_rss, math.max(peak_rss, last_rss))
  print(("  (RSS %s after warm-up, %s at the end)"):format(mib(base_rss),
        mib(last_rss)))
  check("open fds", base_fds, last_fds, math.max(peak_fds, last_fds))
  if done ~= total then
    print(("  only %d of %d connections completed"):format(done, total))
    failures = failures + 1
  end
end

for _, phase in ipairs({ soak_tasks, soak_tcp }) do
  local ok, err = pcall(phase)
  if not ok then
    print("soak: FAILED: " .. tostring(err):sub(1, 2000))
    failures = failures + 1
  end
end
print(failures == 0 and "soak: ok" or ("soak: %d FAILED"):format(failures))
os.exit(failures == 0 and 0 or 1)
