-- 16. HTTPS, both ends, no network needed: a tiny HTTP/1.1 server over
-- loom.tls (self-signed certificate for "localhost", made with the
-- openssl CLI) and a client that fetches three paths at once, each under
-- its own deadline, verifying the server's certificate and name. The
-- client parses the status line and headers with s:read("l") and reads
-- the body with read_exactly(Content-Length), the way an HTTPS API
-- client would. One path is slow: its deadline cancels that request, the
-- others are not disturbed.
local loom = require "loom"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
assert(os.execute(("openssl req -x509 -newkey ec -pkeyopt "
  .. "ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost "
  .. "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
  .. "-keyout %s -out %s 2>/dev/null"):format(key, cert)),
  "openssl could not make a certificate")

-- The server: one request per connection, "GET <path>".
local pages = {
  ["/hello"] = "hello over TLS\n",
  ["/time"] = function() return ("loom.now() = %.3f\n"):format(loom.now()) end,
  ["/slow"] = function() loom.sleep(5) return "finally\n" end,
}

local function serve(s)
  local request = s:read_line{ max = 8192 }
  if request == nil then return end
  local path = request:match("^GET (%S+) HTTP/1%.[01]$")
  repeat local header = s:read_line{ max = 8192 }   -- skip the headers
  until header == nil or header == ""
  local page = pages[path]
  local status, body = "200 OK", page
  if type(page) == "function" then body = page() end
  if body == nil then status, body = "404 Not Found", "no such page\n" end
  s:write("HTTP/1.1 ", status, "\r\n",
          "Content-Type: text/plain\r\n",
          "Content-Length: ", #body, "\r\n",
          "Connection: close\r\n\r\n", body)
end

-- The client: GET https://localhost:<port><path>.
local function get(port, path)
  local s <close> = loom.tls.connect("localhost", port, { ca_file = cert })
  s:write("GET ", path, " HTTP/1.1\r\nHost: localhost\r\n",
          "Connection: close\r\n\r\n")
  local code = tonumber(s:read("l"):match("^HTTP/1%.1 (%d+)"))
  local headers = {}
  for line in s:lines() do
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.*)$")
    headers[name:lower()] = value
  end
  return code, s:read_exactly(tonumber(headers["content-length"]))
end

loom.run(function()
  local l = loom.tls.listen("127.0.0.1", 0,
                            { cert_file = cert, key_file = key })
  loom.with_group(function(g)
    g:spawn(function()
      -- a handler left unfinished by a cancelled client only closes
      l:serve(function(s) pcall(serve, s) end)
    end)
    loom.with_group(function(clients)
      for _, path in ipairs { "/hello", "/time", "/missing", "/slow" } do
        clients:spawn(function()
          local code, body = loom.move_on_after(0.5, function()
            return get(l.port, path)
          end)
          if code == nil then
            print(("GET %-8s -> no answer within 0.5 s (cancelled)"):format(path))
          else
            print(("GET %-8s -> %d %s"):format(path, code,
                                                (body:gsub("\n$", ""))))
          end
        end)
      end
    end)
    g:cancel()                          -- stop serving
  end)
  l:close()
end)
os.execute("rm -r " .. dir)
