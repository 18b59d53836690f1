-- 9. An echo server with a graceful shutdown. l:serve runs one handler
-- task per connection (and closes the stream when the handler ends). A
-- task waiting for SIGINT takes Ctrl-C over: it closes the listener, and
-- serve returns once the connections in flight are done. (Without that
-- task, Ctrl-C would cancel everything and loom.run would raise
-- loom.Interrupted.)
-- For the demo the program starts three clients itself, then stops the
-- server the same way Ctrl-C would.
local loom = require "loom"

local function handler(s)
  local addr, port = s:peername()
  print(("server: connection from %s:%d"):format(addr, port))
  while true do
    local line = s:read_line()
    if line == nil then break end          -- the client is done
    s:write(line .. "\n")
  end
end

local function client(i, port)
  local s <close> = loom.tcp.connect("127.0.0.1", port)
  for j = 1, 3 do
    s:write(("client %d, line %d\n"):format(i, j))
    print("client " .. i .. " got back: " .. s:read_line())
    loom.sleep(0.05)
  end
  s:shutdown()                             -- the handler reads EOF
end

loom.run(function()
  local l = loom.tcp.listen("127.0.0.1", 0)
  print("listening on 127.0.0.1:" .. l.port .. " (Ctrl-C stops it)")
  loom.with_group(function(g)
    g:spawn(function()
      l:serve(handler)
      print("server: stopped, every connection finished")
    end)
    local stopper = g:spawn(function()
      loom.signal.wait("SIGINT")
      print("\nCtrl-C: closing the listener")
      l:close()
    end)

    -- The demo's own clients.
    loom.with_group(function(clients)
      for i = 1, 3 do clients:spawn(client, i, l.port) end
    end)
    print("demo: clients done, stopping the server")
    l:close()
    stopper:cancel()
  end)
end)
