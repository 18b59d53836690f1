-- bench/prof/pops.lua [N]: the CPU time of firing N queued sleeps (the
-- deadline heap's pops, each sleeper's wake-up and end), on the virtual
-- clock, so no time is spent waiting: N tasks each sleep 1 s plus a
-- pseudo-random part of up to 1 s; the clock starts once the last one is
-- queued. What the heap's shape costs at sizes beyond the caches (each
-- pop moves O(log N) entries and writes each moved timer's index).
--   LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;" \
--     lua5.4 bench/prof/pops.lua 1000000
local loom = require "loom"
local core = require "loom.core"
local N = tonumber(arg and arg[1]) or 1000000
local clock = os.clock

core.set_virtual_clock(true)
local queued, t0, t1 = 0, nil, nil
loom.run(function()
  loom.with_group(function(g)
    for i = 1, N do
      g:spawn(function()
        queued = queued + 1
        if queued == N then t0 = clock() end
        loom.sleep(1 + (i * 2654435761 % 4294967296) % 1000003 / 1e6)
      end)
    end
  end)
  t1 = clock()
end)
print(string.format("pops N=%d: %.1f ms of CPU, %.0f ns per sleep fired",
                    N, (t1 - t0) * 1000, (t1 - t0) * 1e9 / N))
