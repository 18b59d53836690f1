-- 2. Nine tasks return value * 100; the results are read with t:result()
-- once the group has finished (a group never returns its children's
-- values: each Task keeps its own).
local loom = require "loom"

loom.run(function()
  local tasks = {}
  loom.with_group(function(g)
    for value = 1, 9 do
      tasks[value] = g:spawn(function(v)
        loom.sleep(0.01 * (10 - v))   -- finish in reverse order
        return v * 100
      end, value)
    end
  end)
  for value, t in ipairs(tasks) do
    print(("task %d (%s): %d"):format(value, t.status, t:result()))
  end
end)
