--- Streams and listeners: the objects behind `loom.tcp` and `loom.pipe`
-- (and the piped stdio of `loom.process`).
--
-- A `Stream` is a byte stream with a receive buffer: `read`,
-- `read_exactly`, `read_line`, `read_all`, `lines`, `write`, `shutdown`,
-- `close`, `peername`, `sockname`, `set_nodelay` (TCP). A `Listener`
-- accepts connections: `accept`, `serve`, `close`, `sockname`, fields
-- `port` (TCP) and `path` (pipe). `loom.tls` streams and listeners have
-- the same methods.
--
-- I/O failures raise `loom.IOError` (fields `code`, `message`, `op`); end
-- of stream is `nil`, not an error. Using a closed object raises an error
-- containing "closed". Bad arguments raise at once, as for Lua's own
-- functions, counting the arguments after `self`. This module has no
-- functions of its own: `loom.tcp` and `loom.pipe` make the objects.
-- @module loom.stream
local core = require "loom.core"
local group = require "loom.group"
local util = require "loom._util"

local raise_io, typeerror = util.raise_io, util.typeerror
local with_group = group.with_group
local sleep = core.sleep

local M = {}
local tostring, select = tostring, select

local S = core.stream_methods
local L = core.listener_methods

-- The C methods, wrapped by loom._util.io. Its wrappers are fixed-arity
-- functions, as fast as hand-written ones on the hot path (read, write).
local raw_read, raw_read_exactly, raw_read_line = S.read, S.read_exactly,
                                                  S.read_line
local raw_read_all = S.read_all
local raw_write, raw_shutdown = S.write, S.shutdown
local raw_peername, raw_sockname, raw_nodelay = S.peername, S.sockname,
                                                S.set_nodelay

--- Streams: byte streams with a receive buffer, made by
-- `loom.tcp.connect`, `loom.pipe.connect`, `l:accept()` and the piped
-- stdio of `loom.process.spawn`.
--
-- Bytes land in the stream's buffer (64 KiB, grown as the bytes of a long
-- `read_exactly` or line come) and each read copies them once into a Lua
-- string; when the buffer is full and nobody reads, reading stops, so a
-- fast sender is held back by TCP itself. `write` returns only once the
-- kernel has the data. A cancelled read loses nothing; a write cancelled
-- while it waits closes the stream (see `write`). One task reads at a
-- time (a second reader raises an error); several may write, their
-- writes going out in call order. Writing to a peer that has gone raises
-- `IOError` `EPIPE` or `ECONNRESET`, never SIGPIPE.
-- @type Stream

--- **Checkpoint.** Read what has arrived: a string of 1 to `max` bytes (all
-- that is buffered when `max` is nil), waiting if nothing has; `nil` at end
-- of stream (and at every read after it). A cancelled read loses nothing:
-- the bytes stay buffered for the next read. `io`'s formats work too:
-- `s:read("l")` is `read_line()`, `"L"` `read_line{ keep = true }`, `"a"`
-- `read_all()` (the `"*l"` spellings as well). A number is a maximum, as
-- for `io.read(n)`, but a stream returns as soon as some bytes are there
-- (`read_exactly(n)` waits for all `n`). One format per call.
-- @function Stream:read
-- @tparam[opt] integer|string max at most this many bytes, or a format
-- @treturn ?string
-- @raise `loom.IOError` (op "read"); an error containing "closed"
-- @usage local data = s:read()
-- local line = s:read("l")
S.read = util.io(raw_read, "read", 2)

--- **Checkpoint.** Read exactly `n` bytes. Returns `nil` if the stream ends
-- first (the bytes that did arrive stay buffered: `read` returns them).
-- The buffer grows as the bytes come, never ahead of them: a huge `n`
-- reserves no memory.
-- @function Stream:read_exactly
-- @tparam integer n
-- @treturn ?string
-- @raise `loom.IOError` (op "read")
-- @usage local header = s:read_exactly(4)
S.read_exactly = util.io(raw_read_exactly, "read", 2)

--- **Checkpoint.** Read one line, without its `"\n"` (a `"\r\n"` ending is
-- removed too); `""` for an empty line; at end of stream the last line
-- even without a newline, then `nil`. With `opts.max = n`, a line of more
-- than `n` bytes (its ending not counted) raises `IOError` code
-- `"ELINETOOLONG"` as soon as `n + 1` bytes have come without a newline,
-- so a peer cannot make you buffer without bound; its bytes stay
-- buffered (`read` returns them; every `read_line` with that `max` raises
-- again until they are taken).
-- With `opts.keep = true` the line keeps its ending (`"\n"` or
-- `"\r\n"`), as `io.read("L")`.
-- @function Stream:read_line
-- @tparam[opt] table opts `max`, the longest line accepted; `keep`
-- @treturn ?string
-- @raise `loom.IOError` (op "read"; code `"ELINETOOLONG"`)
-- @usage for line in s:lines() do print(line) end
-- local request = s:read_line{ max = 8192 }
S.read_line = util.io(raw_read_line, "read", 2)

--- **Checkpoint.** Read everything up to the end of the stream (the peer's
-- `shutdown` or close); `""` if nothing came, as `io.read("a")`. The
-- buffer grows as the bytes come. A cancelled `read_all` loses nothing:
-- what arrived stays buffered.
-- @function Stream:read_all
-- @treturn string
-- @raise `loom.IOError` (op "read")
-- @usage local reply = s:read_all()
S.read_all = util.io(raw_read_all, "read", 1)

--- **Checkpoint.** Write `data`; returns when the kernel has it
-- (backpressure). Several arguments (strings or numbers, as `file:write`
-- takes) are written in order as one write (see the usage). One string is
-- not copied. A write that has to wait (the peer does not read) can be
-- cancelled, but not taken back: an unknown part of the data may have gone
-- out, so the cancellation closes the stream (the writer gets `Cancelled`
-- at once; later reads and writes raise an error containing "closed"), as a
-- cancelled `send_all` leaves a Trio stream broken. A write that completed
-- before the cancellation returns normally and `Cancelled` comes at the
-- next checkpoint. Writing to a peer that has gone raises `IOError`
-- (`EPIPE` or `ECONNRESET`), never SIGPIPE.
-- @function Stream:write
-- @tparam string|number data
-- @param ... more strings or numbers
-- @return the stream
-- @raise `loom.IOError` (op "write"); an error containing "closed"
-- @usage s:write("hello\n")
-- s:write("HTTP/1.1 ", code, " ", reason, "\r\n")
S.write = util.io(raw_write, "write", 2)

--- **Checkpoint.** Close the write side once pending writes are out: the peer
-- reads end of stream; reading goes on. A second call does nothing. Like a
-- write, a shutdown cancelled while it waits closes the stream.
-- @function Stream:shutdown
-- @raise `loom.IOError` (op "shutdown"); an error containing "closed"
-- @usage s:write(request); s:shutdown(); local reply = s:read()
S.shutdown = util.io(raw_shutdown, "shutdown", 1, { results = 0 })

--- Close the stream (idempotent, never blocks; not a checkpoint). A task
-- blocked on it gets an error containing "closed", and so does any later
-- read or write; the peer sees the end of the stream. Streams are also
-- to-be-closed values (`local s <close> = ...`) and are closed when
-- collected.
-- @function Stream:close
-- @usage local s <close> = loom.tcp.connect(host, port)

--- `true` once the stream is closed: by `close`, or by a write or
-- shutdown cancelled while it waited.
-- @function Stream:is_closed
-- @treturn boolean

--- The peer's address: `addr, port` (a pipe: `path, nil`). Not a
-- checkpoint.
-- @function Stream:peername
-- @treturn string the address (or the path)
-- @treturn ?integer the port
-- @raise `loom.IOError` (op "peername"); an error containing "closed"
S.peername = util.io(raw_peername, "peername", 1, { results = 2 })

--- The local address: `addr, port` (a pipe: `path, nil`). Not a
-- checkpoint.
-- @function Stream:sockname
-- @treturn string the address (or the path)
-- @treturn ?integer the port
-- @raise `loom.IOError` (op "sockname"); an error containing "closed"
S.sockname = util.io(raw_sockname, "sockname", 1, { results = 2 })

--- TCP_NODELAY on (`true`, the default for every TCP stream) or off. Not
-- a checkpoint.
-- @function Stream:set_nodelay
-- @tparam boolean on
-- @return the stream
-- @raise an error if the stream is not a TCP stream, or is closed
S.set_nodelay = util.io(raw_nodelay, "set_nodelay", 2)

--- An iterator over the lines of the stream, for a generic `for`; each
-- step is a checkpoint. Each step is `s:read(fmt)` (default `"l"`, a line
-- without its ending; `"L"` keeps it; a number reads chunks of at most
-- that many bytes); it ends at the end of the stream. The stream stays
-- open.
-- @function Stream:lines
-- @tparam[opt] string|integer fmt
-- @return an iterator
-- @raise an argument error for the format `"a"` (it would never end);
-- each step raises as `read`
-- @usage for line in s:lines() do s:write(line, "\n") end

-- Add io's conventions to the methods table T of a stream class (Stream
-- here, TlsStream in tls.lua): read formats, several values to write,
-- lines(). T.read, T.read_line, T.read_all and T.write are the class's
-- wrapped methods.
function M._io_conventions(T)
  local read_any, read_line, read_all, write_one = T.read, T.read_line,
                                                   T.read_all, T.write
  core.mark_wrappers{ read_any, read_line, read_all, write_one }
  local keep = { keep = true }
  local function read_keep(s) return read_line(s, keep) end
  local formats = {
    l = read_line, ["*l"] = read_line, L = read_keep, ["*L"] = read_keep,
    a = read_all, ["*a"] = read_all,
  }
  local type, concat = type, table.concat

  local function check_format(fmt, fname)
    if fmt == nil or type(fmt) == "number" then return read_any end
    local f = formats[fmt]
    if f == nil then
      util.argerror(1, fname, "number expected, got " .. type(fmt)
                    .. (type(fmt) == "string" and (" '" .. fmt .. "'") or "")
                    .. ' (or a format: "l", "L", "a")', 3)
    end
    return f
  end

  function T.read(s, fmt, extra)
    if extra ~= nil then
      util.argerror(2, "read", "one format per call", 2)
    end
    -- No tail calls: the argument errors of the C reads name this call
    -- (loom.core's blame of wrappers needs the frame).
    local r
    if fmt == nil or type(fmt) == "number" then
      r = read_any(s, fmt)
    else
      r = check_format(fmt, "read")(s)
    end
    return r
  end

  function T.write(s, data, ...)
    if select("#", ...) == 0 then
      local r = write_one(s, data)       -- no tail call (see read)
      return r
    end
    local parts = { data, ... }
    for i = 1, select("#", ...) + 1 do
      local v = parts[i]
      local ty = type(v)
      if ty == "number" then
        parts[i] = tostring(v)
      elseif ty ~= "string" then
        typeerror(i, "write", "string", v)
      end
    end
    local r = write_one(s, concat(parts))
    return r
  end

  function T.lines(s, fmt)
    if fmt == "a" or fmt == "*a" then
      util.argerror(1, "lines", "format 'a' has no end of lines")
    end
    if fmt == nil then fmt = "l" end
    local read = check_format(fmt, "lines")
    local step
    if read == read_any then
      step = function() local r = read_any(s, fmt); return r end
    else
      step = function() local r = read(s); return r end
    end
    core.mark_wrappers{ step }
    return step
  end
end

M._io_conventions(S)

local raw_accept, raw_lsockname = L.accept, L.sockname

--- Listeners, made by `loom.tcp.listen` and `loom.pipe.listen`.
-- Connections wait in the kernel's backlog until accepted.
-- @type Listener

--- **Checkpoint.** Wait for a connection and return its `Stream`. A cancelled
-- accept loses no connection: connections wait in the listener's backlog
-- until accepted. Several tasks may accept from one listener.
-- @function Listener:accept
-- @treturn Stream
-- @raise `loom.IOError` (op "accept"); an error containing "closed"
-- @usage local s = l:accept()
function L.accept(l)
  local s, code, msg = raw_accept(l, false)   -- false: raise "closed"
  if s == nil then raise_io(code, msg, "accept") end
  return s
end

--- The bound address: `addr, port` (a pipe: `path, nil`). Not a
-- checkpoint.
-- @function Listener:sockname
-- @treturn string the address (or the path)
-- @treturn ?integer the port
-- @raise `loom.IOError` (op "sockname"); an error containing "closed"
L.sockname = util.io(raw_lsockname, "sockname", 1, { results = 2 })

-- Errors after which an accept loop waits a little and goes on (no file
-- descriptors or memory left for now), as Trio's serve_listeners does.
local transient = { EMFILE = true, ENFILE = true, ENOMEM = true,
                    ENOBUFS = true }

local function serve_one(handler, s)
  local c <close> = s
  return handler(c)
end

local callable = core.is_callable

--- **Checkpoint.** The accept loop: each connection runs `handler(stream)` as
-- a task of an internal group, and the stream is closed when the handler
-- ends. Returns once the listener is closed (by another task) and every
-- handler has finished. Cancelling the task that runs `serve` cancels its
-- handlers; a handler that fails cancels the others and `serve` raises the
-- group's `ErrorGroup`. When descriptors run out (`EMFILE`...) it waits
-- 0.1 s and goes on accepting.
-- @function Listener:serve
-- @tparam function handler called with each Stream
-- @raise `loom.ErrorGroup` (a handler failed), `loom.IOError` (op "accept")
-- @usage l:serve(function(s)
--   for line in function() return s:read_line() end do
--     s:write(line .. "\n")
--   end
-- end)
function L.serve(l, handler)
  if not callable(handler) then typeerror(1, "serve", "function", handler) end
  local code, msg
  with_group({ name = "serve" }, function(g)
    while true do
      local s
      s, code, msg = raw_accept(l, true)
      if s == false then return end                 -- the listener closed
      if s ~= nil then
        g:spawn(serve_one, handler, s)
      elseif transient[code] then
        sleep(0.1)
      else
        g:cancel()      -- stop the handlers, then raise the IOError below
        return
      end
    end
  end)
  if code ~= nil then raise_io(code, msg, "accept") end
end

--- Close the listener (idempotent, never blocks; not a checkpoint). Tasks
-- blocked in `accept` get an error containing "closed", `serve` returns
-- once its handlers have finished. A pipe listener removes its socket
-- file. Listeners are also to-be-closed values and are closed when
-- collected.
-- @function Listener:close

--- `true` once the listener is closed.
-- @function Listener:is_closed
-- @treturn boolean

--- The bound port of a TCP listener (also when port 0 was asked), or
-- `nil`. Read-only.
-- @tfield ?integer port

--- The socket path of a pipe listener, or `nil`. Read-only.
-- @tfield ?string path

--- @section end

-- Argument errors of the C methods name the caller's arguments and line.
core.mark_wrappers(S)
core.mark_wrappers(L)

return M
