-- 11. Subprocesses. A pipeline Lua -> sort -> uniq -c -> Lua, with one
-- task per pipe (each pipe end is a Stream); process.run for a one-shot
-- command; and a timeout around a slow child, which is terminated and
-- reaped (no zombie) before the TimeoutError goes on.
local loom = require "loom"

local words = { "pear", "apple", "fig", "apple", "pear", "apple" }

local function copy(from, to)              -- from's bytes to `to`, then EOF
  while true do
    local data = from:read()
    if data == nil then break end
    to:write(data)
  end
  to:close()
end

loom.run(function()
  local r = loom.process.run{ "sh", "-c", "echo $((6 * 7)); exit 3" }
  print(("run: stdout %s, exit code %d"):format(r.stdout:gsub("\n", ""),
                                               r.code))

  local sort = loom.process.spawn{ "sort", stdin = "pipe", stdout = "pipe" }
  local uniq = loom.process.spawn{ "uniq", "-c", stdin = "pipe",
                                   stdout = "pipe" }
  loom.with_group(function(g)
    g:spawn(function()                     -- Lua -> sort
      for _, w in ipairs(words) do sort.stdin:write(w .. "\n") end
      sort.stdin:close()
    end)
    g:spawn(copy, sort.stdout, uniq.stdin) -- sort -> uniq
    g:spawn(function()                     -- uniq -> Lua
      for line in function() return uniq.stdout:read_line() end do
        local n, w = line:match("(%d+)%s+(%S+)")
        print(("pipeline: %-6s x%s"):format(w, n))
      end
    end)
  end)
  print("pipeline exit codes:", (sort:wait()), (uniq:wait()))

  local slow = loom.process.spawn{ "sleep", "30" }
  local _, err = pcall(loom.timeout, 0.2, function() return slow:wait() end)
  print(("timeout: %s; the child was %s"):format(tostring(err),
    select(2, slow:wait())))
end)
