--- TCP: `loom.tcp.connect` and `loom.tcp.listen`.
-- Their `Stream`s and `Listener`s are described in `loom.stream`. Both
-- calls are checkpoints and must run in a task.
-- @module loom.tcp
local core = require "loom.core"
local util = require "loom._util"

require "loom.stream"   -- wraps the methods of the Streams and Listeners

local M = {}

--- **Checkpoint.** Connect to `host`:`port` and return a `Stream`. A host name
-- is resolved and each of its addresses tried in turn, so `"localhost"`
-- works whether it resolves to `::1` or `127.0.0.1` first; cancelling
-- the call closes the attempt. TCP_NODELAY is on (`s:set_nodelay(false)`
-- turns it off).
-- @tparam string host a name or a numeric address
-- @tparam integer port
-- @treturn Stream
-- @raise `loom.IOError` (op "connect"), e.g. code `"ECONNREFUSED"`
-- @usage local s = loom.tcp.connect("127.0.0.1", 8080)
-- @function connect
M.connect = util.io(core.tcp_connect, "connect", 2)

--- **Checkpoint.** Listen on `host`:`port` (port 0: any free port; `l.port`
-- tells which). `host` nil or `"*"`: every IPv4 address; a name binds the
-- first of its addresses that works.
-- @tparam ?string host
-- @tparam integer port
-- @tparam[opt] table opts `backlog` (default 511), `reuseport` (set
-- `SO_REUSEPORT` before binding: several processes can listen on one port
-- and the kernel spreads the connections among them)
-- @treturn Listener
-- @raise `loom.IOError` (op "listen"), e.g. code `"EADDRINUSE"`
-- @usage
-- local l = loom.tcp.listen("127.0.0.1", 0)
-- print(l.port)
-- @function listen
M.listen = util.io(core.tcp_listen, "listen", 3)

core.mark_wrappers(M)

return M
