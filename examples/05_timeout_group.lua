-- 5. A 1.0 s timeout around a group of six tasks sleeping 0.3 * i s:
-- tasks 0-3 finish, 4 and 5 are cancelled, TimeoutError at the timeout,
-- and the results of the finished tasks are still readable.
local loom = require "loom"

loom.run(function()
  local tasks = {}
  local t0 = loom.now()
  local ok, err = pcall(loom.timeout, 1.0, function()
    loom.with_group(function(g)
      for i = 0, 5 do
        tasks[i] = g:spawn(function()
          loom.sleep(0.3 * i)
          return i
        end)
      end
    end)
  end)
  print(("after %.2f s: timeout raised %s (%s)"):format(
    loom.now() - t0, tostring(not ok), tostring(err)))
  print("TimeoutError:is(err) = " .. tostring(loom.TimeoutError:is(err)))
  for i = 0, 5 do
    local t = tasks[i]
    if t.status == "ok" then
      print(("task %d: finished, result %d"):format(i, t:result()))
    else
      print(("task %d: %s"):format(i, t.status))
    end
  end
end)
