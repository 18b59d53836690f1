-- 13: see inside a running program. A small chat-like server: a listener
-- task serves connections; each connection's handler reads lines under an
-- idle timeout and hands them to a logger over a channel. Two clients
-- connect; one talks, one stays silent. Then the program writes
-- loom.dump() to stdout: which task, spawned from where, waits on what,
-- for how long, under which deadline.
--
-- The README's "Debugging a running program" shows this output (a spec
-- checks that it still matches). In a real program, `loom.dump_on_signal
-- "SIGUSR1"` (or LOOM_DUMP_SIGNAL=SIGUSR1 in the environment) writes the
-- same to stderr on `kill -USR1 <pid>`, and the program goes on.
local loom = require "loom"

local function handle(stream, log)
  while true do
    local line = loom.move_on_after(30, function()     -- idle timeout
      return stream:read_line()
    end)
    if line == nil then return end
    log:send(line)
  end
end

loom.run(function()
  loom.current_task().name = "main"
  local log = loom.channel(0)
  local l = loom.tcp.listen("127.0.0.1", 0)
  loom.with_group(function(g)
    g:spawn(function()
      for line in log:iter() do io.write("log: ", line, "\n") end
    end).name = "logger"
    g:spawn(function()
      l:serve(function(s) handle(s, log) end)
    end).name = "listener"

    local talker = loom.tcp.connect("127.0.0.1", l.port)
    local silent = loom.tcp.connect("127.0.0.1", l.port)
    talker:write("hello\n")
    loom.sleep(0.2)

    io.write(loom.format_tree())       -- what loom.dump() writes

    talker:close()
    silent:close()
    g:cancel()
  end)
  l:close()
end)
