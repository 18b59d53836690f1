-- 8. A crawler-style batch: 100 simulated fetches with random latencies,
-- at most 8 at once (with_group's `limit`), one overall deadline for the
-- whole batch, and a summary of what finished. A failed fetch is recorded
-- without stopping the batch; five fetches hang and are cancelled by the
-- deadline. The durations come from a fixed seed, so the output is stable.
local loom = require "loom"

local N, LIMIT, DEADLINE = 100, 8, 1.5
local hangs = { [13] = true, [37] = true, [58] = true, [71] = true,
                [99] = true }

math.randomseed(42)
local latency = {}
for id = 1, N do
  latency[id] = hangs[id] and 60 or 0.005 + math.random() * 0.03
end

local function url(id) return ("https://example.org/page/%d"):format(id) end

-- A simulated fetch: sleeps for its latency, fails for some pages.
local function fetch(id)
  loom.sleep(latency[id])
  if id % 17 == 0 then error("HTTP 503 for " .. url(id), 0) end
  return 1000 + id * 37 % 5000        -- its size in bytes
end

loom.run(function()
  local tasks, failed = {}, {}
  local running, peak = 0, 0
  local t0 = loom.now()
  local ok, err = pcall(loom.timeout, DEADLINE, function()
    loom.with_group({ limit = LIMIT, name = "crawl" }, function(g)
      for id = 1, N do
        tasks[id] = g:spawn(function()  -- waits while LIMIT are running
          running = running + 1
          peak = math.max(peak, running)
          local _ <close> = setmetatable({}, {
            __close = function() running = running - 1 end })
          local fine, res = pcall(fetch, id)
          if fine then return res end
          if loom.is_cancelled(res) then
            error(res, 0)              -- never swallow a cancellation
          end
          failed[#failed + 1] = id     -- recorded; the batch goes on
        end)
      end
    end)
  end)
  local elapsed = loom.now() - t0

  -- Results of the tasks that finished stay readable after the deadline.
  local fetched, total, cancelled = 0, 0, {}
  for id = 1, N do
    local t = tasks[id]
    if t:cancelled() then
      cancelled[#cancelled + 1] = id
    elseif t:result() ~= nil then
      fetched = fetched + 1
      total = total + t:result()
    end
  end
  table.sort(failed)
  print(("batch of %d fetches, at most %d at once (peak %d)"):format(
    N, LIMIT, peak))
  print(("overall deadline %.1f s: %s, after %.1f s"):format(DEADLINE,
    ok and "not reached" or tostring(err), elapsed))
  print(("fetched:   %d pages, %d bytes"):format(fetched, total))
  print(("failed:    %d (pages %s)"):format(#failed,
    table.concat(failed, ", ")))
  print(("cancelled: %d (pages %s)"):format(#cancelled,
    table.concat(cancelled, ", ")))
end)
