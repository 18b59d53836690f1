-- 4. Cancelling task 2 by hand after 0.5 s: only task 2 is cancelled; its
-- siblings finish and the group ends normally (a task cancelled this way
-- does not fail its group).
local loom = require "loom"

loom.run(function()
  local tasks = {}
  loom.with_group(function(g)
    for i = 1, 3 do
      tasks[i] = g:spawn(function()
        loom.sleep(1)
        return "task " .. i .. " finished"
      end)
    end
    loom.sleep(0.5)
    tasks[2]:cancel()
  end)
  for i, t in ipairs(tasks) do
    local state, value = t:wait()
    print(("task %d: %s %s"):format(i, state, value or ""))
  end
end)
