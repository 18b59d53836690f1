-- 1. A group of three tasks that print and sleep 1 s; "Done" after all.
-- The group waits for its children: with_group returns only when all three
-- have finished, so the whole run takes about 1 s, not 3.
local loom = require "loom"

loom.run(function()
  local t0 = loom.now()
  loom.with_group(function(g)
    for i = 1, 3 do
      g:spawn(function()
        print(("task %d: start"):format(i))
        loom.sleep(1)
        print(("task %d: end"):format(i))
      end)
    end
  end)
  print(("Done (%.1f s)"):format(loom.now() - t0))
end)
