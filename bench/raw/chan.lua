-- CHAN ping-pong, the limit: the same two-task ping-pong over two
-- rendezvous channels on raw coroutines and a minimal ready queue
-- (bench/lib/rawsched.lua). Messages per second.
local B = require "benchlib"
local S = require "rawsched"
local W, I = "CHAN", "raw"
local M = B.n(100000)
local now = B.clock()
local send, receive = S.send, S.receive

local ping, pong = S.channel(), S.channel()
local sum = 0
B.collect()
local c0, t0 = os.clock(), now()
S.spawn(function()
  for _ = 1, M do send(pong, receive(ping)) end
end)
S.spawn(function()
  for i = 1, M do
    send(ping, i)
    sum = sum + receive(pong)
  end
end)
S.run()
local ms, cpu = (now() - t0) * 1000, (os.clock() - c0) * 1000
B.check(sum == M * (M + 1) // 2, W, I, "sum " .. sum)
B.report(W, I, { "mps", 2 * M / (ms / 1000), "ms", ms, "cpu", cpu, "n", M })
