--- Unix domain sockets: `loom.pipe.connect` and `loom.pipe.listen`.
-- The same Streams and Listeners as `loom.tcp` (see `loom.stream`). A
-- path longer than a Unix socket address holds (107 bytes on Linux)
-- raises `IOError` `ENAMETOOLONG` (it is never cut), and a path with a
-- `"\0"` is an argument error. Both calls are checkpoints and must run in
-- a task.
-- @module loom.pipe
local core = require "loom.core"
local util = require "loom._util"

require "loom.stream"   -- wraps the methods of the Streams and Listeners

local M = {}

--- **Checkpoint.** Connect to the socket at `path`; returns a `Stream`.
-- @tparam string path
-- @treturn Stream
-- @raise `loom.IOError` (op "connect"), e.g. code `"ENOENT"`
-- @usage local s = loom.pipe.connect("/tmp/app.sock")
-- @function connect
M.connect = util.io(core.pipe_connect, "connect", 1)

--- **Checkpoint.** Listen on a new socket file at `path` (removed again by
-- `l:close()`); returns a `Listener` (`l.path`). A second listener on the
-- same path raises `EADDRINUSE`.
-- @tparam string path
-- @tparam[opt] table opts `backlog` (default 511)
-- @treturn Listener
-- @raise `loom.IOError` (op "listen"), e.g. code `"EADDRINUSE"`
-- @usage local l = loom.pipe.listen("/tmp/app.sock")
-- @function listen
M.listen = util.io(core.pipe_listen, "listen", 2)

core.mark_wrappers(M)

return M
