--- A minimal scheduler on raw coroutines, for the sync limits: a FIFO
-- ready queue, yield_now, a rendezvous channel and a FIFO lock with
-- hand-off. No errors, no cancellation: the bare hand-off cost.
local create, resume, yield, running = coroutine.create, coroutine.resume,
                                       coroutine.yield, coroutine.running
local S = {}

local q, head, tail = {}, 1, 0

local function ready(co)
  tail = tail + 1
  q[tail] = co
end
S.ready = ready

function S.spawn(fn, ...)
  local args = table.pack(...)
  local co = create(function() return fn(table.unpack(args, 1, args.n)) end)
  ready(co)
  return co
end

--- Run until no coroutine is ready.
function S.run()
  while head <= tail do
    local co = q[head]
    q[head] = nil
    head = head + 1
    assert(resume(co))
  end
end

function S.yield_now()
  ready(running())
  yield()
end

--- Rendezvous channel: whoever arrives second completes the hand-off and
-- goes on; the first one parks.
function S.channel()
  return { senders = {}, sh = 1, st = 0, receivers = {}, rh = 1, rt = 0 }
end

function S.send(ch, v)
  if ch.rh <= ch.rt then
    local r = ch.receivers[ch.rh]
    ch.receivers[ch.rh] = nil
    ch.rh = ch.rh + 1
    r.value = v
    ready(r.co)
    return
  end
  ch.st = ch.st + 1
  ch.senders[ch.st] = { co = running(), value = v }
  yield()
end

function S.receive(ch)
  if ch.sh <= ch.st then
    local s = ch.senders[ch.sh]
    ch.senders[ch.sh] = nil
    ch.sh = ch.sh + 1
    ready(s.co)
    return s.value
  end
  local me = { co = running() }
  ch.rt = ch.rt + 1
  ch.receivers[ch.rt] = me
  yield()
  return me.value
end

--- FIFO lock with hand-off on release.
function S.lock()
  return { owner = nil, waiters = {}, wh = 1, wt = 0 }
end

function S.acquire(lk)
  local me = running()
  if lk.owner == nil then
    lk.owner = me
    return
  end
  lk.wt = lk.wt + 1
  lk.waiters[lk.wt] = me
  yield()   -- resumed as the owner
end

function S.release(lk)
  if lk.wh <= lk.wt then
    local nxt = lk.waiters[lk.wh]
    lk.waiters[lk.wh] = nil
    lk.wh = lk.wh + 1
    lk.owner = nxt
    ready(nxt)
  else
    lk.owner = nil
  end
end

return S
