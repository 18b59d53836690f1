-- W4T loopback echo over TLS 1.3 (loom): W4 (bench/loom/w4.lua) with every
-- connection a loom.tls stream: l:serve's handlers run the server side of
-- the handshake, C client tasks connect (verifying a self-signed
-- certificate made beforehand with the openssl CLI, not timed) and do R
-- round trips of 64 bytes. Round trips per second from before the first
-- connect until the last client is done, handshakes included. With
-- W4T_PLAIN set (bench/loom/w4tcp.lua), the same program over plain TCP:
-- the limit the TLS figure is a ratio of. C = BENCH_C (100), R = BENCH_R
-- (1000).
local B = require "benchlib"
local plain = W4T_PLAIN ~= nil
local W, I = "W4T", plain and "tcp" or "loom"
local loom = B.need(W, I, "loom")
if not plain and type(loom.tls) ~= "table" then
  B.fail(W, I, "loom.tls not available")
end
local C, R = B.env("BENCH_C", 100), B.env("BENCH_R", 1000)
local now = loom.now
local MSG = string.rep("x", 64)

local dir, cert, key
if not plain then
  dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
  cert, key = dir .. "/cert.pem", dir .. "/key.pem"
  if not os.execute(("openssl req -x509 -newkey ec -pkeyopt "
      .. "ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost "
      .. "-addext subjectAltName=DNS:localhost -keyout %s -out %s "
      .. "2>/dev/null"):format(key, cert)) then
    B.fail(W, I, "openssl could not make a certificate")
  end
end

local rounds, ms, cpu = 0, nil, nil
local function handler(s)
  while true do
    local m = s:read_exactly(64)
    if m == nil then return end
    s:write(m)
  end
end

local function connect(port)
  if plain then return loom.tcp.connect("127.0.0.1", port) end
  return loom.tls.connect("localhost", port, { ca_file = cert })
end

local function client(port)
  local s = connect(port)
  for _ = 1, R do
    s:write(MSG)
    local m = s:read_exactly(64)
    if m ~= MSG then error("bad echo: " .. tostring(m and #m)) end
    rounds = rounds + 1
  end
  s:close()
end

local ok, err = pcall(loom.run, function()
  local l = plain and loom.tcp.listen("127.0.0.1", 0)
            or loom.tls.listen("127.0.0.1", 0, { cert_file = cert,
                                                 key_file = key })
  loom.with_group(function(outer)
    outer:spawn(function()
      -- a client closing without close_notify ends its handler with an
      -- error; an echo server does not care
      l:serve(function(s) pcall(handler, s) end)
    end)
    local c0, t0 = os.clock(), now()
    loom.with_group(function(g)
      for _ = 1, C do g:spawn(client, l.port) end
    end)
    ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
    outer:cancel()
  end)
  l:close()
end)
if dir then os.execute("rm -r " .. dir) end
if not ok then B.fail(W, I, err) end
B.check(rounds == C * R, W, I, "rounds " .. rounds)
B.report(W, I, { "rtps", rounds / (ms / 1000), "ms", ms, "cpu", cpu,
                 "c", C, "r", R })
