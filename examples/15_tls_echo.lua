-- 15. A TLS echo server and its clients. The program makes a self-signed
-- certificate for "localhost" with the openssl CLI, serves TLS with it
-- (l:serve runs each connection's handshake in that connection's own
-- task, so a slow client holds up nobody), and connects three clients
-- that trust exactly that certificate (ca_file) and check the name.
local loom = require "loom"

-- A self-signed certificate and its key in a temporary directory.
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
assert(os.execute(("openssl req -x509 -newkey ec -pkeyopt "
  .. "ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost "
  .. "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
  .. "-keyout %s -out %s 2>/dev/null"):format(key, cert)),
  "openssl could not make a certificate")

local function handler(s)
  for line in function() return s:read_line() end do
    s:write(line .. "\n")
  end                                  -- the client's close_notify: nil
end

local function client(i, port)
  local s <close> = loom.tls.connect("localhost", port, {
    ca_file = cert,                    -- trust our own certificate only
    alpn = { "echo" },
  })
  if i == 1 then
    print(("client 1: %s, ALPN %s, server %s"):format(
      s:version(), s:alpn(), s:peer_certificate().subject))
  end
  for j = 1, 2 do
    s:write(("client %d, line %d\n"):format(i, j))
    print("client " .. i .. " got back: " .. s:read_line())
  end
  s:shutdown()                         -- close_notify: the handler ends
  assert(s:read() == nil)
end

-- A client whose handshake fails does not stop the server: serve closes
-- that connection and reports the error (by default to stderr).
loom.on_unhandled(function(e)
  print("server: a handshake failed: " .. tostring(e.message))
end)

local ok, err = pcall(loom.run, function()
  local l = loom.tls.listen("127.0.0.1", 0, {
    cert_file = cert, key_file = key, alpn = { "echo" },
  })
  print("TLS echo server on 127.0.0.1:" .. l.port)
  loom.with_group(function(g)
    g:spawn(function()
      l:serve(handler)
      print("server: stopped, every connection finished")
    end)
    loom.with_group(function(clients)
      for i = 1, 3 do clients:spawn(client, i, l.port) end
    end)
    -- Without the certificate as a trust anchor, verification fails.
    local _, e = pcall(loom.tls.connect, "localhost", l.port)
    print("without ca_file: " .. tostring(e.message) .. " ("
          .. tostring(e.verify_error) .. ")")
    l:close()
  end)
end)
os.execute("rm -rf " .. dir)
if not ok then error(err, 0) end
