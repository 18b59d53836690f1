-- 6. One overall deadline for a batch: a 5 s task and a 2 s task run
-- concurrently, so one 6 s deadline for the whole batch succeeds, while
-- 4 s per-call timeouts make the 5 s call fail.
local loom = require "loom"

local function job(seconds)
  loom.sleep(seconds)
  return ("%g s job done"):format(seconds)
end

loom.run(function()
  local t0 = loom.now()
  -- One deadline for the whole batch.
  local ok, err = pcall(loom.timeout, 6, function()
    loom.with_group(function(g)
      for _, s in ipairs { 5, 2 } do
        g:spawn(function() print("batch: " .. job(s)) end)
      end
    end)
  end)
  print(("one 6 s deadline for the batch: %s after %.1f s"):format(
    ok and "succeeded" or ("failed: " .. tostring(err)), loom.now() - t0))

  -- A 4 s timeout on each call.
  t0 = loom.now()
  loom.with_group(function(g)
    for _, s in ipairs { 5, 2 } do
      g:spawn(function()
        local ok2, e = pcall(loom.timeout, 4, function() return job(s) end)
        print(("per-call 4 s timeout, %g s job: %s"):format(
          s, ok2 and e or ("failed: " .. tostring(e))))
      end)
    end
  end)
  print(("per-call timeouts: done after %.1f s"):format(loom.now() - t0))
end)
