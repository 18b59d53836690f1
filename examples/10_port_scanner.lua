-- 10. A port scanner: try to connect to a range of 127.0.0.1 ports, at
-- most 50 at a time (a group limit), each attempt bounded by its own
-- timeout and the whole scan by an overall one. It opens two listeners
-- itself so that there is something to find.
local loom = require "loom"

loom.run(function()
  local l1 = loom.tcp.listen("127.0.0.1", 0)
  local l2
  for port = l1.port + 7, l1.port + 100 do   -- a second one close by
    local ok, l = pcall(loom.tcp.listen, "127.0.0.1", port)
    if ok then l2 = l; break end
  end
  local lo = math.max(1, l1.port - 50)
  local hi = math.min(65535, l2.port + 50)
  print(("scanning 127.0.0.1 ports %d-%d (our listeners: %d, %d)"):format(
    lo, hi, l1.port, l2.port))

  local found, tried = {}, 0
  local t0 = loom.now()
  local finished = loom.move_on_after(5, function()
    loom.with_group({ limit = 50 }, function(g)
      for port = lo, hi do
        g:spawn(function()
          local ok, err = pcall(loom.timeout, 0.5, function()
            local _ <close> = loom.tcp.connect("127.0.0.1", port)
          end)
          tried = tried + 1
          if ok then
            found[#found + 1] = port
          elseif not (loom.IOError:is(err) or loom.TimeoutError:is(err)) then
            error(err, 0)          -- never swallow a cancellation
          end
        end)
      end
    end)
    return true
  end)
  table.sort(found)
  print(("%s: %d ports tried in %.2f s, open: %s"):format(
    finished and "done" or "overall timeout", tried, loom.now() - t0,
    table.concat(found, ", ")))
  local function has(p)
    for _, x in ipairs(found) do if x == p then return true end end
    return false
  end
  print("found both listeners: " .. tostring(has(l1.port) and has(l2.port)))
  l1:close()
  l2:close()
end)
