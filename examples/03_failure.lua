-- 3. Task 2 raises after 0.5 s while tasks 1 and 3 sleep 1 s: the group
-- cancels 1 and 3 (their cleanup runs), waits for them, then raises one
-- ErrorGroup holding task 2's error with its traceback.
local loom = require "loom"

loom.run(function()
  local tasks = {}
  local ok, err = pcall(loom.with_group, { name = "example-3" }, function(g)
    for i = 1, 3 do
      tasks[i] = g:spawn(function()
        if i == 2 then
          loom.sleep(0.5)
          error("task 2 failed")
        end
        local ok2, e = pcall(loom.sleep, 1)
        if not ok2 then
          print(("task %d: cleanup after %s"):format(i, tostring(e)))
          error(e, 0)   -- let the cancellation go on
        end
      end)
      tasks[i].name = "task" .. i
    end
  end)
  print()
  for i, t in ipairs(tasks) do
    print(("task %d: done=%s cancelled=%s status=%s"):format(
      i, tostring(t:done()), tostring(t:cancelled()), t.status))
  end
  print()
  print("with_group raised an ErrorGroup: " ..
        tostring(not ok and loom.ErrorGroup:is(err)))
  print(err)
end)
