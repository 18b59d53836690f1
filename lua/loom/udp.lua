--- UDP sockets (`loom.udp`).
-- A socket receives from the moment it is bound: datagrams wait in a queue
-- in the object (up to 1024; beyond that the kernel buffers, then drops),
-- so a `receive_from` that is cancelled loses nothing. Host names are
-- resolved with `loom.dns.getaddrinfo`; numeric addresses are used as
-- they are. Datagrams up to 64 KiB; an empty datagram is `""`. Failures
-- raise `loom.IOError`.
-- @module loom.udp
local core = require "loom.core"
local dns = require "loom.dns"
local util = require "loom._util"

local tostring, type = tostring, type
local find, match = string.find, string.match
local raise_io = util.raise_io

local M = {}

-- The `where` of an IOError (loom._util.raise_io): "host:port".
local function at(host, port)
  return host and (port and ("%s:%s"):format(host, tostring(port)) or host)
end

local function numeric(host)
  return type(host) ~= "string" or find(host, ":", 1, true) ~= nil or
         match(host, "^%d+%.%d+%.%d+%.%d+$") ~= nil
end

-- The numeric address to use for `host` (a checkpoint for names): the
-- first one of `family` if given, else the first one. (The port is left
-- to the C function, whose argument errors name the caller's arguments.)
local function resolve(host, family)
  if numeric(host) then return host end
  local list = dns.getaddrinfo(host)
  for i = 1, #list do
    if family == nil or list[i].family == family then return list[i].addr end
  end
  return list[1].addr
end

local bind = core.udp_bind

--- **Checkpoint.** Bind a UDP socket and return it; it receives from now
-- on. A `host` that is a name is resolved first. Must run in a task, as
-- every I/O call.
-- @tparam string host local address (`"127.0.0.1"`, `"::1"`, `"0.0.0.0"`,
--   or a name such as `"localhost"`)
-- @tparam integer port local port, 0 for any free one (see `u.port`)
-- @treturn Udp
-- @raise `loom.IOError` (op `"bind"`, such as `"EADDRINUSE"`),
-- `loom.Cancelled`
-- @usage local u <close> = loom.udp.bind("127.0.0.1", 0)
-- print(u.port)
function M.bind(host, port)
  local u, code, msg = bind(resolve(host), port)
  if u == nil then raise_io(code, msg, "bind", at(host, port)) end
  return u
end

--- UDP socket objects, made by `bind`.
-- Closed sockets raise an error containing `closed`. An idle socket does
-- not keep the loop alive: its handle is referenced only while a task
-- waits in `receive_from`. Several tasks may wait; each datagram goes to
-- one of them.
-- @type Udp
local Udp, native = core.Udp_methods, core.Udp_native
local send_to = native.send_to

--- The bound port. Read-only.
-- @tfield integer port

--- `"inet"` or `"inet6"`. Read-only.
-- @tfield string family

--- `true` once the socket is closed (`u:is_closed()`). Read-only.
-- @tfield boolean closed

--- **Checkpoint.** Send one datagram; returns once the kernel has it (it
-- waits only when the socket's send buffer is full). A `host` that is a
-- name is resolved, preferring the socket's family. With an expired
-- deadline nothing is sent; a `send_to` cancelled while it waits for room
-- returns at once, and its datagram may still go out (whole: the socket
-- stays usable).
-- @tparam string data the datagram (may be empty)
-- @tparam string host destination address or name
-- @tparam integer port destination port
-- @raise `loom.IOError` (op `"send"`), `loom.Cancelled`, "closed"
-- @usage u:send_to("ping", "127.0.0.1", 9999)
function Udp:send_to(data, host, port)
  if not numeric(host) then host = resolve(host, self.family) end
  local ok, code, msg = send_to(self, data, host, port)
  if ok == nil then raise_io(code, msg, "send", at(host, port)) end
end

--- **Checkpoint.** Wait for a datagram and take it: the oldest one
-- queued, or the next to come. A cancelled receive loses nothing.
-- @treturn string the data
-- @treturn string the sender's address
-- @treturn integer the sender's port
-- @raise `loom.IOError` (op `"recv"`), `loom.Cancelled`, "closed" (also
--   when the socket is closed while waiting)
-- @usage local data, host, port = u:receive_from()
-- @function Udp:receive_from
Udp.receive_from = util.io(native.receive_from, "recv", 1, { results = 3 })

--- The local address and port. Not a checkpoint.
-- @treturn string address
-- @treturn integer port
-- @raise `loom.IOError` (op `"getsockname"`), "closed"
-- @function Udp:sockname
Udp.sockname = util.io(native.sockname, "getsockname", 1, { results = 2 })

--- Close the socket (idempotent, never waits; not a checkpoint). A task
-- blocked in `receive_from` raises an error containing `closed`; queued
-- datagrams are dropped. Also the `__close` and `__gc` metamethods.
-- @function Udp:close

--- `true` once the socket is closed.
-- @function Udp:is_closed
-- @treturn boolean

--- @section end

-- Argument errors of the C functions name the caller's arguments and line.
core.mark_wrappers(M)
core.mark_wrappers(Udp)

return M
