--- Name resolution (`loom.dns`), on libuv's `uv_getaddrinfo`.
-- Lookups run in libuv's threadpool; a lookup whose task is cancelled is
-- abandoned at once (libuv drops it if it has not started, otherwise it
-- finishes in the background and its result is freed).
-- @module loom.dns
local core = require "loom.core"
local util = require "loom._util"

local M = {}

-- The `where` of the IOError (loom._util.io): the message names the host,
-- and so does `e.host`.
local function at_host(host) return host, { host = host } end

--- **Checkpoint.** Resolve `host` (a name or a numeric address) into its
-- addresses, in the resolver's order, one entry per address. Numeric
-- addresses come back as they are; `port` may be a numeric string.
-- @tparam string host name or numeric address (`"localhost"`, `"::1"`)
-- @tparam[opt] integer port copied into every entry (default 0)
-- @treturn table an array of `{ addr = "127.0.0.1", family =, port = n }`,
--   `family` being `"inet"` or `"inet6"`
-- @raise `loom.IOError` (op `"getaddrinfo"`, code such as `"EAI_NONAME"`),
--   `loom.Cancelled`
-- @usage for _, a in ipairs(loom.dns.getaddrinfo("localhost", 80)) do
--   print(a.family, a.addr, a.port) end
-- @function getaddrinfo
M.getaddrinfo = util.io(core.getaddrinfo, "getaddrinfo", 2,
                        { where = at_host })

core.mark_wrappers(M)

return M
