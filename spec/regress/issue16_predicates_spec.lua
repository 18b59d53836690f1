-- Regression (issue 16): predicates were named four ways (ch:is_closed(),
-- a UDP `closed` field, ev:is_set(), lk:locked(), t:done()). One
-- convention now: every object answers state questions with `is_*()`
-- methods; the contracted names stay as aliases.
local loom = require "loom"
local S = require "spec.support"

describe("is_*() predicates", function()
  it("tasks: is_done, is_cancelled (done, cancelled stay)", S.async(function()
    local t
    loom.with_group(function(g)
      t = g:spawn(loom.sleep, 10)
      assert.is_false(t:is_done())
      assert.is_false(t:is_cancelled())
      t:cancel()
    end)
    assert.is_true(t:is_done())
    assert.is_true(t:is_cancelled())
    assert.equal(t:done(), t:is_done())
    assert.equal(t:cancelled(), t:is_cancelled())
  end))

  it("locks: is_locked (locked stays); events: is_set; channels: "
     .. "is_closed", S.async(function()
    local lk = loom.lock()
    assert.is_false(lk:is_locked())
    lk:acquire()
    assert.is_true(lk:is_locked())
    assert.is_true(lk:locked())
    lk:release()
    local ev = loom.event()
    assert.is_false(ev:is_set())
    ev:set()
    assert.is_true(ev:is_set())
    local ch = loom.channel(1)
    assert.is_false(ch:is_closed())
    ch:close()
    assert.is_true(ch:is_closed())
  end))

  it("streams, listeners, UDP sockets, files: is_closed", S.async(function()
    local l = loom.tcp.listen("127.0.0.1", 0)
    local c = loom.tcp.connect("127.0.0.1", l.port)
    local s = l:accept()
    local u = loom.udp.bind("127.0.0.1", 0)
    local path = os.tmpname()
    local f = loom.fs.open(path, "w")
    for _, o in ipairs { l, c, s, u, f } do
      assert.is_false(o:is_closed(), tostring(o))
      o:close()
      assert.is_true(o:is_closed(), tostring(o))
      o:close()                              -- idempotent
      assert.is_true(o:is_closed())
    end
    assert.is_true(u.closed)                 -- the field stays
    os.remove(path)
  end))

  it("a wrong receiver is an argument error", function()
    local lk = loom.lock()
    assert.matches("loom.Lock expected, got table",
                   S.catch(lk.is_locked, {}))
  end)
end)
