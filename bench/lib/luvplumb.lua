--- Hand-written coroutine plumbing on lua-luv, as a luv user writes it:
-- a FIFO ready queue drained by one idle handle, spawn, yield_now, sleep
-- with one uv timer per sleep, a waiter list as an event, a counter as a
-- group join, and stream read/write helpers. No error or cancel
-- semantics: this is the peer "luv + hand-written coroutine plumbing".
local uv = require "luv"
local create, resume, yield, running = coroutine.create, coroutine.resume,
                                       coroutine.yield, coroutine.running
local P = { uv = uv }

local q, head, tail = {}, 1, 0
local qargs = {}
local idle = uv.new_idle()
local idle_on = false

local function drain()
  local last = tail
  while head <= last do
    local co = q[head]
    local a = qargs[head]
    q[head] = nil
    qargs[head] = nil
    head = head + 1
    local ok, err = resume(co, a)
    if not ok then error(err) end
  end
  if head > tail then
    idle:stop()
    idle_on = false
  end
end

--- Queue 'co' to be resumed with 'a'.
local function ready(co, a)
  tail = tail + 1
  q[tail] = co
  qargs[tail] = a
  if not idle_on then
    idle_on = true
    idle:start(drain)
  end
end
P.ready = ready

--- Start fn(arg) as a coroutine on a later turn.
function P.spawn(fn, arg)
  local co = create(fn)
  ready(co, arg)
  return co
end

function P.yield_now()
  ready(running())
  return yield()
end

--- Sleep 'ms' with a uv timer of its own; returns what resumed it (the
-- timer: nil; P.cancel_sleep: "cancelled").
function P.sleep(ms, slot)
  local co = running()
  local t = uv.new_timer()
  if slot then slot.timer, slot.co = t, co end
  t:start(ms, 0, function()
    t:close()
    ready(co)
  end)
  return yield()
end

--- Cancel a sleep recorded in 'slot': stop and close its timer, resume the
-- sleeper with "cancelled".
function P.cancel_sleep(slot)
  slot.timer:stop()
  slot.timer:close()
  ready(slot.co, "cancelled")
end

--- A group join: n = number of tasks; done() when each ends; wait() in
-- the waiting coroutine until all have.
function P.counter(n)
  local c = { left = n, waiter = nil }
  function c.done()
    c.left = c.left - 1
    if c.left == 0 and c.waiter then ready(c.waiter) end
  end
  function c.wait()
    if c.left > 0 then
      c.waiter = running()
      yield()
    end
  end
  return c
end

--- An event: a waiter list.
function P.event()
  local ev = { is_set = false, waiters = {}, n = 0 }
  function ev.wait()
    if ev.is_set then return end
    ev.n = ev.n + 1
    ev.waiters[ev.n] = running()
    yield()
  end
  function ev.fire()
    ev.is_set = true
    local w = ev.waiters
    ev.waiters, ev.n = {}, 0
    for i = 1, #w do ready(w[i]) end
  end
  return ev
end

--- Run the loop until nothing is left.
function P.run() uv.run("default") end

--- A coroutine reader over a luv stream: r.read_exactly(n).
function P.reader(stream)
  local buf, waiter, eof = "", nil, false
  stream:read_start(function(err, data)
    assert(not err, err)
    if data then buf = buf .. data else eof = true end
    if waiter then
      local co = waiter
      waiter = nil
      ready(co)
    end
  end)
  local r = {}
  function r.read_exactly(n)
    while #buf < n do
      if eof then return nil end
      waiter = running()
      yield()
    end
    local s = buf:sub(1, n)
    buf = buf:sub(n + 1)
    return s
  end
  return r
end

--- Write and wait until libuv has handed the data to the kernel.
function P.write(stream, data)
  local co = running()
  stream:write(data, function(err)
    assert(not err, err)
    ready(co)
  end)
  yield()
end

return P
