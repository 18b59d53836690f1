--- Unix domain sockets: `loom.pipe.connect` and `loom.pipe.listen`.
-- The same Streams and Listeners as `loom.tcp` (see `loom.stream`).
-- @module loom.pipe
local core = require "loom.core"
local stream = require "loom.stream"

local raise = stream._raise
local pipe_connect, pipe_listen = core.pipe_connect, core.pipe_listen

local M = {}

--- Checkpoint. Connect to the socket at `path`; returns a `Stream`.
-- @tparam string path
-- @treturn Stream
-- @raise `loom.IOError` (op "connect"), e.g. code `"ENOENT"`
-- @usage local s = loom.pipe.connect("/tmp/app.sock")
function M.connect(path)
  local s, code, msg = pipe_connect(path)
  if s == nil then raise(code, msg, "connect") end
  return s
end

--- Checkpoint. Listen on a new socket file at `path` (removed again by
-- `l:close()`); returns a `Listener` (`l.path`).
-- @tparam string path
-- @tparam[opt] table opts `backlog` (default 511)
-- @treturn Listener
-- @raise `loom.IOError` (op "listen"), e.g. code `"EADDRINUSE"`
-- @usage local l = loom.pipe.listen("/tmp/app.sock")
function M.listen(path, opts)
  local l, code, msg = pipe_listen(path, opts)
  if l == nil then raise(code, msg, "listen") end
  return l
end

core.mark_wrappers(M)

return M
