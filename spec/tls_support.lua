-- Helpers of the TLS specs: a local CA and certificates made with the
-- openssl CLI, once per busted process, in a temporary directory
-- (M.cleanup removes it); TLS pairs over 127.0.0.1; leak checks that also
-- count OpenSSL objects.
local loom = require "loom"
local core = require "loom.core"
local IO = require "spec.io_support"

local M = {}

local function sh(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  assert(ok, "failed: " .. cmd)
end

local dir

-- The certificates (all EC P-256, signed by the local CA unless said):
--   ca.pem, ca.key            the local CA
--   other_ca.pem              another CA (a client trusting it fails)
--   srv.pem, srv.key          CN=localhost, SAN localhost, 127.0.0.1, ::1
--   expired.pem               the same key, expired yesterday
--   other.pem, other.key      localhost, signed by the other CA
--   client.pem, client.key    CN=loom client (mutual TLS)
local function generate()
  dir = os.tmpname()
  os.remove(dir)
  sh("mkdir -p " .. dir)
  local function p(name) return dir .. "/" .. name end
  local key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
  local function ca(name, cn)
    sh(("openssl req -x509 %s -keyout %s -out %s -days 3650 -subj %q")
       :format(key, p(name .. ".key"), p(name .. ".pem"), "/CN=" .. cn))
  end
  local function cert(name, subj, ext, issuer, days)
    local f = assert(io.open(p(name .. ".ext"), "w"))
    f:write(ext, "\n")
    f:close()
    local k = io.open(p(name .. ".key"))
    if k then k:close() else
      sh(("openssl req %s -keyout %s -out %s -subj %q"):format(
        key, p(name .. ".key"), p(name .. ".csr"), subj))
    end
    sh(("openssl x509 -req -in %s -CA %s -CAkey %s -CAcreateserial -out %s "
        .. "-days %d -extfile %s"):format(
      p((name == "expired" and "srv" or name) .. ".csr"),
      p(issuer .. ".pem"), p(issuer .. ".key"), p(name .. ".pem"), days,
      p(name .. ".ext")))
  end
  ca("ca", "loom test CA")
  ca("other_ca", "another CA")
  local san = "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
  cert("srv", "/O=loom/CN=localhost", san, "ca", 3650)
  sh(("cp %s %s"):format(p("srv.key"), p("expired.key")))
  cert("expired", "/O=loom/CN=localhost", san, "ca", -1)
  cert("other", "/CN=localhost", san, "other_ca", 3650)
  cert("client", "/CN=loom client", "extendedKeyUsage=clientAuth", "ca",
       3650)
end

--- The path of certificate file `name` ("srv.pem"), made on first use.
function M.path(name)
  if dir == nil then generate() end
  return dir .. "/" .. name
end

--- Remove the directory of the certificates.
function M.cleanup()
  if dir ~= nil then os.execute("rm -rf " .. dir) end
  dir = nil
end

--- Server options with the local CA's certificate for localhost.
function M.server_opts(extra)
  local o = { cert_file = M.path("srv.pem"), key_file = M.path("srv.key") }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

--- Client options trusting the local CA.
function M.client_opts(extra)
  local o = { ca_file = M.path("ca.pem") }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

--- Live TLS streams and contexts (core.tls_stats).
function M.stats()
  return core.tls_stats()
end

--- A busted body: `fn` in loom.run, then the leak checks of io_support,
-- and no TLS stream (SSL) left once collected.
function M.async(fn)
  local body = IO.async(fn)
  return function()
    body()
    collectgarbage()
    collectgarbage()
    local st = core.tls_stats()
    assert(st.streams == 0, "TLS leak check: " .. st.streams
           .. " TLS streams not freed")
  end
end

--- A connected TLS pair over 127.0.0.1: client, server (handshake done),
-- with the options tables `sopts`, `copts` (defaults above).
function M.pair(sopts, copts)
  local l = loom.tls.listen("127.0.0.1", 0, sopts or M.server_opts())
  local s
  local c
  loom.with_group(function(g)
    g:spawn(function()
      s = l:accept()
      s:handshake()
    end)
    c = loom.tls.connect("127.0.0.1", l.port, copts or M.client_opts())
  end)
  l:close()
  return c, s
end

--- The error a call raises (fails the test if it returns).
function M.catch(fn, ...)
  local ok, e = pcall(fn, ...)
  assert(not ok, "expected an error, got success")
  return e
end

--- Is `e` an ETLS IOError (of operation `op`, if given)?
function M.is_etls(e, op)
  return loom.IOError:is(e) and e.code == "ETLS" and
         (op == nil or e.op == op)
end

return M
