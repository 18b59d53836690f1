local loom = require "loom"
local S = require "spec.support"

-- Tests run on the virtual clock (sleeps take no real time); their
-- timing assertions also hold on the real clock (T = S.async).
local T = S.vasync

local settle = S.settle

describe("loom.channel", function()
  it("is a rendezvous by default", function()
    local ch = loom.channel()
    assert.is_false(ch:try_send(1))
    assert.equal(0, #ch)
    assert.matches("loom.Channel %(capacity 0", tostring(ch))
  end)

  it("accepts an integer capacity >= 0 or math.huge", function()
    assert.equal(0, #loom.channel(0))
    assert.is_true(loom.channel(2.0):try_send(1))
    local u = loom.channel(math.huge)
    for i = 1, 1000 do assert.is_true(u:try_send(i)) end
    assert.equal(1000, #u)
    assert.matches("unbounded", tostring(u))
  end)

  it("rejects a negative, fractional or non-number capacity", function()
    for _, bad in ipairs { -1, 1.5, -math.huge, 0 / 0 } do
      assert.matches("capacity must be", tostring(S.catch(loom.channel,
                                                           bad)))
    end
    assert.matches("number expected", tostring(S.catch(loom.channel, "4")))
    assert.matches("number expected", tostring(S.catch(loom.channel, {})))
  end)

  it("methods reject a receiver that is not a Channel", function()
    local ch = loom.channel()
    assert.matches("loom.Channel expected",
                   tostring(S.catch(ch.try_receive, loom.event())))
    assert.matches("loom.Channel expected", tostring(S.catch(ch.close, 1)))
  end)
end)

describe("Channel:send and Channel:receive on a rendezvous channel", function()
  it("send waits until a receiver takes the value", T(function()
    local ch, rec = loom.channel(), S.recorder()
    loom.with_group(function(g)
      g:spawn(function() ch:send("v"); rec("send returned") end)
      loom.sleep(0.02)
      rec("receiving")
      rec("got " .. ch:receive())
    end)
    assert.same({"receiving", "got v", "send returned"}, rec.list)
  end))

  it("receive waits until a sender comes", T(function()
    local ch, rec = loom.channel(), S.recorder()
    loom.with_group(function(g)
      g:spawn(function() rec("got " .. ch:receive()) end)
      loom.sleep(0.02)
      rec("sending")
      ch:send("v")
      rec("sent")
    end)
    assert.same({"sending", "sent", "got v"}, rec.list)
  end))

  it("serves blocked senders and receivers in FIFO order", T(function()
    local ch, got = loom.channel(), {}
    loom.with_group(function(g)
      for i = 1, 4 do
        g:spawn(function() ch:send(i) end)
        loom.sleep(0)
      end
      for _ = 1, 4 do got[#got + 1] = ch:receive() end
    end)
    assert.same({1, 2, 3, 4}, got)
    local rec = S.recorder()
    loom.with_group(function(g)
      for i = 1, 4 do
        g:spawn(function() rec(i .. ":" .. ch:receive()) end)
        loom.sleep(0)
      end
      for _, v in ipairs { "a", "b", "c", "d" } do ch:send(v) end
    end)
    assert.same({"1:a", "2:b", "3:c", "4:d"}, rec.list)
  end))

  it("#ch stays 0: blocked senders and handed values are not buffered",
    T(function()
      local ch = loom.channel()
      loom.with_group(function(g)
        g:spawn(function() ch:send(1) end)
        settle()
        assert.equal(0, #ch)
        assert.matches("1 senders waiting", tostring(ch))
        assert.equal(1, ch:receive())
        g:spawn(function() ch:receive() end)
        settle()
        ch:send(2)        -- handed to the waiting receiver
        assert.equal(0, #ch)
      end)
    end))

  it("carries false and any non-nil value, by identity", T(function()
    local ch = loom.channel()
    local t = {}
    loom.with_group(function(g)
      g:spawn(function() ch:send(false); ch:send(t); ch:send(0) end)
      assert.equal(false, ch:receive())
      assert.equal(t, ch:receive())
      assert.equal(0, ch:receive())
    end)
  end))

  it("sending nil is an argument error (send and try_send)", T(function()
    local ch = loom.channel(1)
    assert.matches("bad argument #1 to 'send' %(cannot send nil",
                   tostring(S.catch(function() ch:send(nil) end)))
    assert.matches("bad argument #1 to 'send'",
                   tostring(S.catch(function() ch:send() end)))
    assert.matches("bad argument #1 to 'try_send' %(cannot send nil",
                   tostring(S.catch(function() ch:try_send(nil) end)))
    assert.equal(0, #ch)
  end))

  it("send and receive raise 'outside of a loom task' outside tasks",
    function()
      local ch = loom.channel(1)
      assert.matches("outside of a loom task",
                     tostring(S.catch(ch.send, ch, 1)))
      assert.matches("outside of a loom task",
                     tostring(S.catch(ch.receive, ch)))
      assert.equal(0, #ch)
    end)

  it("send and receive raise 'nested coroutine' in a user coroutine",
    T(function()
      local ch = loom.channel(1)
      local co = coroutine.wrap(function() ch:send(1) end)
      assert.matches("nested coroutine", tostring(S.catch(co)))
      co = coroutine.wrap(function() ch:receive() end)
      assert.matches("nested coroutine", tostring(S.catch(co)))
    end))
end)

describe("Channel:send and Channel:receive on a buffered channel", function()
  it("send does not wait until the buffer is full; #ch counts buffered "
     .. "values, not blocked senders", T(function()
      local ch, rec = loom.channel(2), S.recorder()
      loom.with_group(function(g)
        g:spawn(function()
          for i = 1, 4 do ch:send(i); rec("sent " .. i) end
        end)
        settle()
        assert.same({"sent 1", "sent 2"}, rec.list)
        assert.equal(2, #ch)
        assert.matches("1 senders waiting", tostring(ch))
        assert.equal(1, ch:receive())
        -- The blocked sender's value moved into the buffer, in order.
        assert.equal(2, #ch)
        assert.equal(2, ch:receive())
        assert.equal(3, ch:receive())
        assert.equal(4, ch:receive())
      end)
      assert.same({"sent 1", "sent 2", "sent 3", "sent 4"}, rec.list)
      assert.equal(0, #ch)
    end))

  it("keeps values in FIFO order through wrap-around and growth",
    T(function()
      local ch, got = loom.channel(math.huge), {}
      for i = 1, 3 do ch:send(i) end
      for _ = 1, 2 do got[#got + 1] = ch:receive() end
      for i = 4, 40 do ch:send(i) end
      while #ch > 0 do got[#got + 1] = ch:receive() end
      local want = {}
      for i = 1, 40 do want[i] = i end
      assert.same(want, got)
      local b, n = loom.channel(3), 1
      got = {}
      b:send(1)
      for _ = 1, 10 do       -- the buffer goes 1 -> 3 -> 1: it wraps
        for _ = 1, 2 do n = n + 1; b:send(n) end
        assert.is_false(b:try_send(99))
        for _ = 1, 2 do got[#got + 1] = b:receive() end
      end
      while #b > 0 do got[#got + 1] = b:receive() end
      want = {}
      for i = 1, 21 do want[i] = i end
      assert.same(want, got)
    end))

  it("receive waits while the buffer is empty", T(function()
    local ch = loom.channel(5)
    local t0 = loom.now()
    loom.with_group(function(g)
      g:spawn(function() loom.sleep(0.02); ch:send("late") end)
      assert.equal("late", ch:receive())
    end)
    assert.is_true(loom.now() - t0 >= 0.02 - 1e-6)
  end))
end)

describe("Channel:try_send and Channel:try_receive", function()
  it("try_send buffers while there is room, then returns false",
    function()
      local ch = loom.channel(2)
      assert.is_true(ch:try_send("a"))
      assert.is_true(ch:try_send("b"))
      assert.is_false(ch:try_send("c"))
      assert.equal(2, #ch)
      assert.equal("a", ch:try_receive())
      assert.equal("b", ch:try_receive())
      assert.is_nil(ch:try_receive())
    end)

  it("try_send hands the value to a waiting receiver", T(function()
    local ch, got = loom.channel(), nil
    loom.with_group(function(g)
      g:spawn(function() got = ch:receive() end)
      settle()
      assert.is_true(ch:try_send("x"))
    end)
    assert.equal("x", got)
  end))

  it("try_receive takes from a blocked sender on a rendezvous and wakes "
     .. "it", T(function()
      local ch, rec = loom.channel(), S.recorder()
      loom.with_group(function(g)
        g:spawn(function() ch:send("x"); rec("send returned") end)
        settle()
        assert.equal("x", ch:try_receive())
        assert.is_nil(ch:try_receive())
      end)
      assert.same({"send returned"}, rec.list)
    end))

  it("are not checkpoints", T(function()
    local ch = loom.channel(1)
    loom.scope(function(s)
      s:cancel()
      assert.is_true(ch:try_send(1))
      assert.equal(1, ch:try_receive())
    end)
  end))
end)

describe("Channel:close", function()
  it("receive returns buffered values, then nil once drained", T(function()
    local ch = loom.channel(3)
    ch:send(1)
    ch:send(2)
    ch:close()
    assert.is_true(ch:is_closed())
    assert.equal(1, ch:receive())
    assert.equal(2, ch:receive())
    assert.is_nil(ch:receive())
    assert.is_nil(ch:receive())
    assert.is_nil(ch:try_receive())
  end))

  it("send and try_send on a closed channel raise 'closed'", T(function()
    local ch = loom.channel(3)
    ch:close()
    assert.matches("closed", tostring(S.catch(ch.send, ch, 1)))
    assert.matches("closed", tostring(S.catch(ch.try_send, ch, 1)))
    assert.equal(0, #ch)
  end))

  it("a sender blocked when the channel is closed raises 'closed'; its "
     .. "value is not delivered", T(function()
      local ch, errs = loom.channel(1), {}
      loom.with_group(function(g)
        ch:send("buffered")
        for i = 1, 2 do
          g:spawn(function() errs[i] = S.catch(ch.send, ch, "blocked") end)
        end
        settle()
        ch:close()
      end)
      assert.matches("closed", tostring(errs[1]))
      assert.matches("closed", tostring(errs[2]))
      assert.equal("buffered", ch:receive())
      assert.is_nil(ch:receive())
    end))

  it("blocked receivers return nil", T(function()
    local ch, got = loom.channel(), {}
    loom.with_group(function(g)
      for i = 1, 3 do g:spawn(function() got[i] = ch:receive() or "nil" end) end
      settle()
      ch:close()
    end)
    assert.same({"nil", "nil", "nil"}, got)
  end))

  it("a value handed to a receiver before close still reaches it",
    T(function()
      local ch, got = loom.channel(), {}
      loom.with_group(function(g)
        for i = 1, 2 do
          g:spawn(function() got[i] = ch:receive() or "nil" end)
        end
        settle()
        ch:send("v")      -- handed to receiver 1, which has not run yet
        ch:close()
      end)
      assert.same({"v", "nil"}, got)
    end))

  it("a sender whose value was taken returns normally even if the "
     .. "channel is closed before it runs", T(function()
      local ch, ok = loom.channel(), nil
      loom.with_group(function(g)
        g:spawn(function() ch:send("v"); ok = true end)
        settle()
        assert.equal("v", ch:receive())
        ch:close()
      end)
      assert.is_true(ok)
    end))

  it("is idempotent and works outside tasks", function()
    local ch = loom.channel(1)
    assert.is_false(ch:is_closed())
    ch:close()
    ch:close()
    assert.is_true(ch:is_closed())
    assert.matches("closed%)", tostring(ch))
  end)
end)

describe("Channel:iter", function()
  it("receives until the channel is closed and drained", T(function()
    local ch, got = loom.channel(2), {}
    loom.with_group(function(g)
      g:spawn(function()
        for _, v in ipairs { 1, false, "x", 3 } do ch:send(v) end
        ch:close()
      end)
      for v in ch:iter() do got[#got + 1] = tostring(v) end
    end)
    assert.same({"1", "false", "x", "3"}, got)
  end))

  it("several consumers share the values, each received once",
    T(function()
      local ch, seen = loom.channel(), {}
      loom.with_group(function(g)
        for w = 1, 3 do
          g:spawn(function()
            for v in ch:iter() do
              assert.is_nil(seen[v])
              seen[v] = w
              loom.sleep(0)
            end
          end)
        end
        for i = 1, 30 do ch:send(i) end
        ch:close()
      end)
      for i = 1, 30 do assert.is_not_nil(seen[i]) end
    end))

  it("a cancelled iteration loses no value", T(function()
    local ch, first, rest = loom.channel(10), {}, {}
    for i = 1, 6 do ch:send(i) end
    ch:close()
    loom.move_on_after(0.02, function()
      for v in ch:iter() do
        first[#first + 1] = v
        if v == 3 then loom.sleep(1) end
      end
    end)
    for v in ch:iter() do rest[#rest + 1] = v end
    assert.same({1, 2, 3}, first)
    assert.same({4, 5, 6}, rest)
  end))
end)

describe("Channel:receive cancellation", function()
  it("cancelled while blocked takes nothing; a later send is not handed "
     .. "to it (BL-02)", T(function()
      local ch = loom.channel()
      assert.is_nil(loom.move_on_after(0.01, function()
        return ch:receive()
      end))
      assert.matches("0 receivers", tostring(ch))
      loom.with_group(function(g)
        g:spawn(function() ch:send("later") end)
        assert.equal("later", ch:receive())
      end)
    end))

  it("cancelled at the moment a value is handed to it, returns that "
     .. "value and meets Cancelled at its next checkpoint", T(function()
      local ch, rec = loom.channel(), S.recorder()
      local sc
      loom.with_group(function(g)
        g:spawn(function()
          loom.scope(function(s)
            sc = s
            rec("got " .. ch:receive())
            loom.sleep(0)
            rec("not reached")
          end)
          rec("cancel caught")
        end)
        settle()
        ch:send("v")       -- handed...
        sc:cancel()        -- ...and cancelled before the receiver runs
      end)
      assert.same({"got v", "cancel caught"}, rec.list)
    end))

  it("with an expired deadline consumes nothing", T(function()
    local ch = loom.channel(1)
    ch:send("kept")
    local e = S.catch(loom.timeout, 0, function() return ch:receive() end)
    assert.is_true(loom.TimeoutError:is(e))
    assert.equal(1, #ch)
    local r = loom.channel()
    loom.with_group(function(g)
      g:spawn(function() r:send("still blocked") end)
      settle()
      e = S.catch(loom.timeout, 0, function() return r:receive() end)
      assert.is_true(loom.TimeoutError:is(e))
      assert.matches("1 senders waiting", tostring(r))
      assert.equal("still blocked", r:receive())
    end)
    assert.equal("kept", ch:receive())
  end))

  it("under a shield receives despite the cancellation", T(function()
    local ch, rec = loom.channel(), S.recorder()
    loom.with_group(function(g)
      g:spawn(function()
        loom.scope(function(s)
          s:cancel()
          loom.shield(function() rec("got " .. ch:receive()) end)
          loom.sleep(0)
          rec("not reached")
        end)
      end)
      loom.sleep(0.02)
      ch:send("v")
    end)
    assert.same({"got v"}, rec.list)
  end))
end)

describe("Channel:send cancellation", function()
  it("cancelled while blocked sends nothing and leaves the queue",
    T(function()
      local ch = loom.channel()
      loom.with_group(function(g)
        local t = g:spawn(function() ch:send("never") end)
        g:spawn(function() loom.sleep(0.005); ch:send("second") end)
        settle()
        t:cancel()
        loom.sleep(0.02)
        assert.equal("second", ch:receive())
      end)
      assert.is_nil(ch:try_receive())
    end))

  it("cancelled at the moment a receiver takes its value, returns "
     .. "normally and meets Cancelled at its next checkpoint", T(function()
      local ch, rec = loom.channel(), S.recorder()
      local sc
      loom.with_group(function(g)
        g:spawn(function()
          loom.scope(function(s)
            sc = s
            ch:send("v")
            rec("send returned")
            loom.sleep(0)
            rec("not reached")
          end)
          rec("cancel caught")
        end)
        settle()
        assert.equal("v", ch:receive())   -- takes it and wakes the sender
        sc:cancel()                       -- before the sender runs
      end)
      assert.same({"send returned", "cancel caught"}, rec.list)
    end))

  it("with an expired deadline sends nothing, even with room",
    T(function()
      local ch = loom.channel(1)
      local e = S.catch(loom.timeout, 0, function() ch:send("x") end)
      assert.is_true(loom.TimeoutError:is(e))
      assert.equal(0, #ch)
    end))

  it("under a shield sends despite the cancellation", T(function()
    local ch, rec = loom.channel(), S.recorder()
    loom.with_group(function(g)
      g:spawn(function()
        loom.scope(function(s)
          s:cancel()
          loom.shield(function() ch:send("v"); rec("sent") end)
          loom.sleep(0)
          rec("not reached")
        end)
      end)
      loom.sleep(0.02)
      assert.equal("v", ch:receive())
    end)
    assert.same({"sent"}, rec.list)
  end))
end)

describe("channel integrity under cancellation (doc/SEMANTICS.md (c) 28)",
         function()
  -- Senders and receivers cancel each other's scopes right after each
  -- operation, so waiters are often cancelled at the moment a value is
  -- handed to them (or taken from them), besides while they wait.
  for _, cap in ipairs { 0, 1, 4 } do
    it("no value is lost or duplicated with randomly cancelled receivers "
       .. "and senders (capacity " .. cap .. ")", T(function()
        math.randomseed(cap + 28)
        local ch = loom.channel(cap)
        local sent, got = {}, {}
        local rscopes, sscopes = {}, {}
        local function chaos(scopes)
          for _ = 1, 2 do
            local s = scopes[math.random(5)]
            if s and math.random() < 0.4 then s:cancel() end
          end
        end
        loom.with_group(function(g)
          for r = 1, 5 do
            g:spawn(function()
              local done = false
              while not done do
                loom.scope(function(s)
                  rscopes[r] = s
                  if math.random() < 0.1 then s.deadline = loom.now() end
                  local v = ch:receive()
                  if v == nil then done = true else got[#got + 1] = v end
                  chaos(sscopes)
                end)
                rscopes[r] = nil
              end
            end)
          end
          loom.with_group(function(senders)
            for k = 1, 4 do
              senders:spawn(function()
                for i = 1, 60 do
                  local v = k * 1000 + i
                  loom.scope(function(s)
                    sscopes[k] = s
                    ch:send(v)
                    sent[#sent + 1] = v
                    chaos(rscopes)
                  end)
                  sscopes[k] = nil
                end
              end)
            end
          end)
          ch:close()
        end)
        table.sort(sent)
        table.sort(got)
        assert.is_true(#sent > 20)
        assert.same(sent, got)
      end))
  end
end)
