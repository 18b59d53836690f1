--- TLS: `loom.tls.connect`, `loom.tls.wrap` and `loom.tls.listen`
-- (OpenSSL 3).
--
-- A TLS stream is a `Stream` over another `Stream`: `read`,
-- `read_exactly`, `read_line`, `write`, `shutdown`, `close`, `peername`,
-- `sockname` and `set_nodelay` work as on a plain stream, on the decrypted
-- bytes, with the same cancellation guarantees; `handshake`, `alpn`,
-- `version` and `peer_certificate` are its own. TLS failures raise
-- `loom.IOError` with code `"ETLS"`, OpenSSL's reason as `message` and,
-- when a certificate failed verification, `verify_error`.
--
-- Options (all optional, except `cert_file` for a server):
--
-- - `server_name`: SNI and the name verified (an IP address is verified
--   as an address, and not sent as SNI);
-- - `verify` (default `true` for a client; `false` turns verification
--   off; a server with `verify = true` asks every client for a
--   certificate);
-- - `ca_file`, `ca_path`: instead of the system's CA store;
-- - `cert_file` and `key_file`: a PEM chain and its key (`key_file`
--   defaults to `cert_file`);
-- - `alpn`: protocol names, in order of preference;
-- - `min_version` (`"TLSv1.2"`, the default, or `"TLSv1.3"`) and
--   `max_version`;
-- - `allow_truncation`: a peer that closes without close_notify ends the
--   stream instead of raising `ETLS`;
-- - `server` for `wrap`; `backlog` and `reuseport` for `listen` (passed
--   on to `loom.tcp.listen`).
--
-- An options table is read once, when it is first used: its OpenSSL
-- context is kept for as long as the table lives. A bad option (a file
-- that does not load, a key that does not match the certificate, an
-- unknown version or option name) raises an error before any connection
-- is made.
-- @module loom.tls
local core = require "loom.core"
local errors = require "loom.errors"
local tcp = require "loom.tcp"
local util = require "loom._util"
local stream_mod = require "loom.stream"

require "loom.stream"   -- wraps the methods of the Streams and Listeners

local pairs, pcall, setmetatable, getmetatable, type, error, tostring =
  pairs, pcall, setmetatable, getmetatable, type, error, tostring
local raise_io, argerror, typeerror = util.raise_io, util.argerror,
                                      util.typeerror
local mark_wrappers, callable = core.mark_wrappers, core.is_callable
local IOError = errors.IOError
local new_context, wrap_raw = core.tls_context, core.tls_wrap

local M = {}

local T = core.tls_stream_methods

-- {==================================================================
-- Options and contexts
-- ====================================================================

-- The options a TLS call accepts (README, "TLS").
local known = {
  server_name = "string", verify = "boolean", ca_file = "string",
  ca_path = "string", cert_file = "string", key_file = "string",
  alpn = "table", min_version = "string", max_version = "string",
  allow_truncation = "boolean", server = "boolean", backlog = "number",
  reuseport = "boolean",
}

-- Raise at the caller of `fname` (level 3 from here) if `opts` is not an
-- options table.
local function check_opts(opts, fname, n)
  if opts == nil then return end
  if type(opts) ~= "table" then typeerror(n, fname, "table", opts, 3) end
  for k, v in pairs(opts) do
    local want = known[k]
    if want == nil then
      argerror(n, fname, "unknown option '" .. tostring(k) .. "'", 3)
    elseif type(v) ~= want then
      argerror(n, fname, ("opts.%s must be a %s, got %s"):format(
        k, want, type(v)), 3)
    end
  end
end

-- One OpenSSL context per options table (weak keys: it goes with the
-- table), one for the defaults.
local contexts = { [false] = setmetatable({}, { __mode = "k" }),
                   [true] = setmetatable({}, { __mode = "k" }) }
local default_client

-- The loom.TlsContext of `opts` for a client or a `server`; raises on a
-- bad option, before any connection.
local function context(opts, server)
  if opts == nil then
    default_client = default_client or new_context(nil, false)
    return default_client
  end
  local cache = contexts[server]
  local cx = cache[opts]
  if cx == nil then
    cx = new_context(opts, server)
    cache[opts] = cx
  end
  return cx
end

-- {==================================================================
-- The methods of a TLS stream
-- ====================================================================

-- Raise the IOError of a fail tuple, with the verification's error.
local function fail(code, msg, verr, op)
  raise_io(code, msg, op, nil, verr and { verify_error = verr } or nil)
end

-- Wrappers of the C methods (fixed arity, as loom._util.io's) whose fail
-- tuples may carry a fourth value, `verify_error`.
local function io1(raw, op)
  return function(s)
    local r1, r2, r3, r4 = raw(s)
    if r1 == nil and r2 ~= nil then fail(r2, r3, r4, op) end
    return r1
  end
end

local function io2(raw, op)
  return function(s, a)
    local r1, r2, r3, r4 = raw(s, a)
    if r1 == nil and r2 ~= nil then fail(r2, r3, r4, op) end
    return r1
  end
end

local raw_plain, raw_notify = T._plain, T._notify
T._plain, T._notify = nil, nil

--- TLS streams, made by `connect`, `wrap` and the listeners of `listen`.
-- Every method of a plain `Stream` works on them, with the same meaning
-- and the same cancellation guarantees, on the decrypted bytes. One task
-- reads at a time; several may write (each write is encrypted in one go,
-- so writes never interleave); a read and a write may run at once.
-- @type TlsStream

--- **Checkpoint.** Run the TLS handshake now, if it has not run (the first
-- read, write or shutdown runs it otherwise); idempotent. A failed
-- handshake closes the stream; a cancelled one too. Several tasks may
-- wait for one handshake: the first runs it.
-- @function TlsStream:handshake
-- @return the stream
-- @raise `loom.IOError` (op "handshake", code `"ETLS"`, `verify_error`)
T.handshake = io1(T.handshake, "handshake")

--- **Checkpoint.** As `Stream:read`, on the decrypted bytes (formats
-- included).
-- @function TlsStream:read
-- @tparam[opt] integer|string max at most this many bytes, or a format
-- @treturn ?string
-- @raise `loom.IOError` (op "read"; code `"ETLS"` for a TLS failure, or a
-- peer that closed without close_notify)
T.read = io2(T.read, "read")
--- **Checkpoint.** As `Stream:read_exactly`.
-- @function TlsStream:read_exactly
-- @tparam integer n
-- @treturn ?string
-- @raise `loom.IOError` (op "read")
T.read_exactly = io2(T.read_exactly, "read")
--- **Checkpoint.** As `Stream:read_line` (`{max = n}` included).
-- @function TlsStream:read_line
-- @tparam[opt] table opts `max`, `keep`
-- @treturn ?string
-- @raise `loom.IOError` (op "read"; code `"ELINETOOLONG"`)
T.read_line = io2(T.read_line, "read")
--- **Checkpoint.** As `Stream:read_all`.
-- @function TlsStream:read_all
-- @treturn string
-- @raise `loom.IOError` (op "read")
T.read_all = io1(T.read_all, "read")
--- **Checkpoint.** As `Stream:write` (several strings or numbers included):
-- returns once the kernel has the encrypted data; a write cancelled while
-- it waits closes the stream.
-- @function TlsStream:write
-- @tparam string|number data
-- @param ... more strings or numbers
-- @return the stream
-- @raise `loom.IOError` (op "write"); an error containing "closed"
T.write = io2(T.write, "write")
--- An iterator over the lines of the stream, each step a checkpoint, as
-- `Stream:lines`.
-- @function TlsStream:lines
-- @tparam[opt] string|integer fmt
-- @return an iterator
stream_mod._io_conventions(T)

local notify = io1(raw_notify, "shutdown")

--- **Checkpoint.** Send TLS close_notify, then shut the write side down (the
-- peer reads end of stream); reading goes on. A second call does
-- nothing.
-- @function TlsStream:shutdown
-- @raise `loom.IOError` (op "shutdown")
function T.shutdown(s)
  notify(s)
  raw_plain(s):shutdown()
end

--- The peer's address: `addr, port` (a pipe: `path, nil`). Not a
-- checkpoint.
-- @function TlsStream:peername
-- @treturn string
-- @treturn ?integer
T.peername = util.io(T.peername, "peername", 1, { results = 2 })

--- The local address: `addr, port` (a pipe: `path, nil`). Not a
-- checkpoint.
-- @function TlsStream:sockname
-- @treturn string
-- @treturn ?integer
T.sockname = util.io(T.sockname, "sockname", 1, { results = 2 })

--- TCP_NODELAY on or off, as `Stream:set_nodelay`. Not a checkpoint.
-- @function TlsStream:set_nodelay
-- @tparam boolean on
-- @return the stream
function T.set_nodelay(s, on)
  raw_plain(s):set_nodelay(on)
  return s
end

--- The protocol ALPN negotiated (`"h2"`...), or `nil` (none, or before
-- the handshake). Not a checkpoint.
-- @function TlsStream:alpn
-- @treturn ?string

--- The protocol version (`"TLSv1.3"`, `"TLSv1.2"`), or `nil` before the
-- handshake. Not a checkpoint.
-- @function TlsStream:version
-- @treturn ?string

--- The peer's certificate: `nil`, or a table with `subject`, `issuer`
-- (RFC 2253 strings: `"CN=localhost,O=loom"`), `not_before`, `not_after`
-- (`"2025-01-31 12:00:00Z"`), `serial` (hex) and `san` (an array of its
-- names and addresses). Not a checkpoint.
-- @function TlsStream:peer_certificate
-- @treturn ?table

--- Close the stream and the plain stream under it (idempotent, never blocks;
-- not a checkpoint). It first sends close_notify if that can be done at
-- once (after the handshake, no write pending). Garbage collection closes
-- without close_notify.
-- @function TlsStream:close

--- `true` once the stream is closed.
-- @function TlsStream:is_closed
-- @treturn boolean

--- @section end

mark_wrappers(T)

-- {==================================================================
-- Clients
-- ====================================================================

-- Wrap the plain stream `s` (closed if that fails).
local function wrap(s, cx, name, trunc)
  local ok, t = pcall(wrap_raw, s, cx, name, trunc)
  if not ok then
    s:close()
    error(t, 0)
  end
  return t
end

-- Closes the stream it holds if its scope is left by an error.
local closer_mt = {
  __close = function(self, err)
    if err ~= nil then self[1]:close() end
  end,
}

-- The client side over `s`, its handshake done; closed if the handshake
-- does not end (a failure, or a cancellation that came before it began).
local function client(s, cx, name, opts)
  local t = wrap(s, cx, name, opts and opts.allow_truncation)
  local _ <close> = setmetatable({ t }, closer_mt)
  t:handshake()
  return t
end

--- **Checkpoint.** Connect to `host`:`port` (as `loom.tcp.connect`), then run
-- a client handshake; returns the TLS stream once it is done. The
-- server's certificate is verified against the system's CA store (or
-- `opts.ca_file` / `opts.ca_path`) and the name `opts.server_name` or
-- `host` (an address is checked as an address).
-- @tparam string host
-- @tparam integer port
-- @tparam[opt] table opts
-- @treturn TlsStream
-- @raise `loom.IOError` (op "connect", or "handshake" with code `"ETLS"`);
--   an error before connecting for a bad option
-- @usage local s = loom.tls.connect("example.com", 443, { alpn = { "h2" } })
function M.connect(host, port, opts)
  if type(host) ~= "string" then typeerror(1, "connect", "string", host) end
  check_opts(opts, "connect", 3)
  local cx = context(opts, false)
  local s = tcp.connect(host, port)
  return client(s, cx, opts and opts.server_name or host, opts)
end

--- **Checkpoint.** Run TLS over the open `stream` (TCP or a Unix socket)
-- and return the TLS stream, a client's handshake done. The plain stream
-- belongs to the TLS stream from now on (closing one closes both).
-- `opts.server = true` makes the server side instead, whose handshake
-- runs with its first operation (so `wrap` then does not wait).
-- A client verifies the name `opts.server_name`, or else the peer's
-- address of a TCP stream; over a Unix socket with verification on it
-- needs `server_name`.
-- @tparam Stream stream
-- @tparam[opt] table opts
-- @treturn TlsStream
-- @raise `loom.IOError` (op "handshake"); an error for a bad option
-- @usage local t = loom.tls.wrap(s, { server_name = "db.internal" })
function M.wrap(stream, opts)
  local mt = getmetatable(stream)
  if not (mt and mt.__name == "loom.Stream") then
    typeerror(1, "wrap", "loom.Stream", stream)
  end
  check_opts(opts, "wrap", 2)
  opts = opts or {}
  local server = opts.server == true
  local cx = context(opts, server)
  if server then return wrap(stream, cx, nil, opts.allow_truncation) end
  local name = opts.server_name
  if name == nil then
    local ok, addr, port = pcall(stream.peername, stream)
    if ok and port ~= nil then name = addr end
  end
  if name == nil and opts.verify ~= false then
    argerror(2, "wrap", "opts.server_name is needed to verify the peer "
             .. "(or opts.verify = false)")
  end
  return client(stream, cx, name, opts)
end

-- {==================================================================
-- Servers
-- ====================================================================

--- TLS listeners, made by `listen`: a `Listener` whose streams are
-- server-side TLS streams. The handshake of an accepted stream runs in
-- the task that first uses it, never in the accept loop.
-- @type TlsListener
local Listener = {}
Listener.__index = Listener
Listener.__name = "loom.TlsListener"

-- The server side of a connection accepted by `l`.
local function accepted(l, s)
  return wrap(s, l._cx, nil, l._opts.allow_truncation)
end

--- **Checkpoint.** Wait for a connection and return its TLS stream, whose
-- handshake runs with its first operation (or `s:handshake()`), in the
-- task that uses it. A cancelled accept loses no connection.
-- @function TlsListener:accept
-- @treturn TlsStream
-- @usage local s <close> = l:accept()
-- s:handshake()
-- @raise `loom.IOError` (op "accept"); an error containing "closed"
function Listener.accept(l)
  return accepted(l, l._l:accept())
end

local report = core.tls_unhandled

--- **Checkpoint.** The accept loop of `Listener:serve`, with TLS: each
-- connection runs its handshake, then `handler(stream)`, in its own task.
-- A connection whose handshake fails is closed and its error reported to
-- `loom.on_unhandled` (by default, written to stderr); the handler is not
-- called, and the other connections and the loop go on.
-- @function TlsListener:serve
-- @tparam function handler
-- @raise `loom.ErrorGroup` (a handler failed), `loom.IOError`
function Listener.serve(l, handler)
  if not callable(handler) then typeerror(1, "serve", "function", handler) end
  l._l:serve(function(s)
    local t <close> = accepted(l, s)
    local ok, e = pcall(t.handshake, t)
    if ok then return handler(t) end
    if not IOError:is(e) then error(e, 0) end
    report(e)
  end)
end

--- Close the listener (idempotent, never blocks; not a checkpoint), as
-- `Listener:close`.
-- @function TlsListener:close
function Listener.close(l)
  l._closed = true
  l._l:close()
end
Listener.__close = Listener.close

--- Whether the listener is closed. Not a checkpoint.
-- @function TlsListener:is_closed
-- @treturn boolean
function Listener.is_closed(l)
  return l._l:is_closed()
end

--- The bound address: `addr, port`. Not a checkpoint.
-- @function TlsListener:sockname
-- @treturn string
-- @treturn integer
function Listener.sockname(l)
  return l._l:sockname()
end

--- The bound TCP port. Read-only.
-- @tfield integer port

--- @section end

function Listener.__tostring(l)
  return ("loom.TlsListener (tcp port %d%s)"):format(
    l.port, l._closed and ", closed" or "")
end

--- **Checkpoint.** Listen on `host`:`port` for TLS and return a
-- `TlsListener`. As `loom.tcp.listen` (`opts.backlog`, `opts.reuseport`
-- are passed on); its streams are server-side TLS streams.
-- `opts.cert_file` and `opts.key_file` are required; `opts.verify = true`
-- asks every client for a certificate (verified against `ca_file`...).
-- @tparam ?string host
-- @tparam integer port
-- @tparam table opts
-- @treturn TlsListener
-- @raise an error for a bad option, before listening; `loom.IOError`
--   (op "listen")
-- @usage local l = loom.tls.listen("127.0.0.1", 8443,
--   { cert_file = "cert.pem", key_file = "key.pem" })
function M.listen(host, port, opts)
  if type(opts) ~= "table" then typeerror(3, "listen", "table", opts) end
  check_opts(opts, "listen", 3)
  local cx = context(opts, true)
  local l = tcp.listen(host, port, opts)
  return setmetatable({ _l = l, _cx = cx, _opts = opts, port = l.port },
                      Listener)
end

mark_wrappers(M)

return M
