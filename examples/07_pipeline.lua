-- 7. A pipeline over channels: a producer, three workers and a collector.
-- Small buffers give backpressure (the producer is never more than a few
-- jobs ahead), and the shutdown is clean: each stage closes its output
-- once its input is closed and drained, so every loop ends by itself.
local loom = require "loom"

local function producer(jobs, n)
  for i = 1, n do jobs:send(i) end     -- waits while the buffer is full
  jobs:close()                         -- no more jobs: workers drain, stop
end

local function worker(jobs, results)
  for n in jobs:iter() do              -- ends once jobs is closed and empty
    loom.sleep(0.002 * (n % 4))        -- simulated work, uneven
    results:send({ n = n, square = n * n })
  end
end

loom.run(function()
  local jobs, results = loom.channel(4), loom.channel(4)
  local got, ahead = {}, 0
  loom.with_group(function(g)
    g:spawn(producer, jobs, 20)
    g:spawn(function()
      loom.with_group(function(workers)
        for _ = 1, 3 do workers:spawn(worker, jobs, results) end
      end)
      results:close()                  -- every worker has finished
    end)
    for r in results:iter() do         -- the collector
      ahead = math.max(ahead, #jobs)
      got[#got + 1] = r
    end
  end)

  table.sort(got, function(a, b) return a.n < b.n end)
  local squares, sum = {}, 0
  for i, r in ipairs(got) do
    squares[i] = r.square
    sum = sum + r.square
  end
  print(("%d results: %s"):format(#got, table.concat(squares, " ")))
  print(("sum of squares 1..20 = %d"):format(sum))
  print(("jobs buffered at most: %d (capacity 4)"):format(ahead))
  print(("after the shutdown: jobs closed = %s, results closed = %s"):format(
    tostring(jobs:is_closed()), tostring(results:is_closed())))
  local ok, err = pcall(jobs.send, jobs, 21)
  print(("sending on the closed channel: %s (%s)"):format(
    ok and "accepted" or "refused", tostring(err)))
  print(("receiving from it: %s"):format(tostring(jobs:receive())))
end)
