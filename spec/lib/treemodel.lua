--- The model of the random-tree tests: a small reference implementation,
-- in plain Lua coroutines on a virtual clock, of the parts of loom's
-- contract the trees use (README "Tasks, groups and scopes", API.md
-- sections 1-6). It runs the same program as loom (spec/lib/treerun.lua
-- interprets it against either), and its outcomes are the predictions.
--
-- The rules it implements, each where the contract states it:
--  * scopes form a tree (task root scopes under their group's scope); a
--    scope is effectively cancelled if it was cancelled, or its parent is
--    and it is not a shield; a checkpoint raises Cancelled when the
--    task's innermost scope is effectively cancelled (level-triggered);
--    cancelling aborts the waits of the tasks that became cancelled;
--  * which scope catches: a scope catches a Cancelled reaching its
--    boundary iff it was cancelled itself and its parent's cancellation is
--    not visible to it (the outermost cancelled scope up to the nearest
--    shield); a timeout whose own deadline cancelled it raises a new
--    TimeoutError there; a body that returns normally returns its results;
--  * groups: a child's or the body's error cancels the group; the group
--    waits for every child (not a checkpoint), then raises one ErrorGroup
--    of every error (errors win over cancellation), or passes the
--    cancellation on, or re-raises an enclosing cancellation that ended
--    its children, or returns the body's results; g:start and the group
--    limit as in section 2; lazy start (a child first runs on a later
--    turn);
--  * a Cancelled that reaches the top of a task, or of a group's body,
--    while no scope around it is cancelled becomes an ordinary error
--    whose message contains "Cancelled" and "escaped" (issue 10 item 2;
--    opts.escape_fix = false models the old behaviour);
--  * sync objects: FIFO waiters, hand-offs recorded in the object.
--
-- Where the contract leaves a choice to the implementation, the model
-- makes it through `opts.rng` (nil: loom's current choice, FIFO): the order
-- in which the tasks that are ready at the same instant run, and what a
-- task handed a lock or a permit does when it has been cancelled before it
-- runs. The harness runs the model several times with different choices
-- and compares loom only with outcomes that do not depend on them.
local M = {}

local CANCELLED_MT = { __name = "model.Cancelled",
                       __tostring = function() return "model.Cancelled" end }
local TIMEOUT_MT = { __name = "model.TimeoutError",
                     __tostring = function() return "model.TimeoutError" end }
local TASKCANCELLED_MT = { __name = "model.TaskCancelled",
                           __tostring = function()
                             return "model.TaskCancelled"
                           end }
local EG_MT = { __name = "model.ErrorGroup",
                __tostring = function(e)
                  return ("model.ErrorGroup (%d errors)"):format(#e.errors)
                end }

local function class(mt)
  return { is = function(_, e) return getmetatable(e) == mt end }
end

M.Cancelled = class(CANCELLED_MT)
M.TimeoutError = class(TIMEOUT_MT)
M.TaskCancelled = class(TASKCANCELLED_MT)
M.ErrorGroup = class(EG_MT)
M.NILSTR = "(error object is a nil value)"
M.ESCAPED = "model: a Cancelled escaped to the top of a task while no "
            .. "scope around it was cancelled"

local CANCELLED = setmetatable({}, CANCELLED_MT)
local TOKEN = {}

local pack, unpack = table.pack, table.unpack

--- A fresh model loom. opts.rng: a function returning floats in [0, 1)
-- for the implementation's free choices (nil: FIFO, loom's choices);
-- opts.escape_fix (default true).
function M.new(opts)
  opts = opts or {}
  local rng = opts.rng
  local escape_fix = opts.escape_fix ~= false
  local api = {
    Cancelled = M.Cancelled, TimeoutError = M.TimeoutError,
    TaskCancelled = M.TaskCancelled, ErrorGroup = M.ErrorGroup,
  }
  function api.is_cancelled(e) return getmetatable(e) == CANCELLED_MT end
  local is_cancelled = api.is_cancelled

  local now = 1000.0
  local ready = {}
  local timers = {}
  local tseq = 0
  local current
  local ntasks = 0
  local top = { kind = "top", children = {}, cancelled = false }
  local stats = { choices = 0 }
  api.stats = stats

  -- {=================================================================
  -- The clock: timers fire in (when, seq) order
  -- =================================================================}
  local function timer_set(when, fire)
    tseq = tseq + 1
    local tm = { when = when, seq = tseq, fire = fire }
    timers[#timers + 1] = tm
    return tm
  end
  local function timer_clear(tm)
    if tm == nil then return end
    for i = 1, #timers do
      if timers[i] == tm then table.remove(timers, i); return end
    end
  end
  local function timer_next()
    local best
    for _, tm in ipairs(timers) do
      if best == nil or tm.when < best.when or
         (tm.when == best.when and tm.seq < best.seq) then
        best = tm
      end
    end
    return best
  end
  local function clock_fire()
    while true do
      local tm = timer_next()
      if tm == nil or tm.when > now then return end
      timer_clear(tm)
      tm.fire()
    end
  end
  api.now = function() return now end

  -- {=================================================================
  -- Tasks waiting and waking
  -- =================================================================}
  local function enqueue(t)
    t.state = "ready"
    ready[#ready + 1] = t
  end
  local function wake(t, reason)
    t.wake = reason
    t.abort = nil
    enqueue(t)
  end
  local function running()
    local t = current
    if t == nil or coroutine.running() ~= t.co then
      error("model: outside of a task", 2)
    end
    return t
  end
  -- Suspend the running task; 'abort' (or nil: not abortable) tears the
  -- wait down when a scope cancels it.
  local function suspend(t, abort)
    if t.state == "running" then t.state = "waiting" end
    t.abort = abort
    local y = coroutine.yield(TOKEN)
    assert(y == nil)
  end
  local function lot_push(lot, t) lot[#lot + 1] = t end
  local function lot_remove(lot, t)
    for i = 1, #lot do
      if lot[i] == t then table.remove(lot, i); return true end
    end
    return false
  end
  local function lot_pop(lot) return table.remove(lot, 1) end
  -- Park in 'lot' (abortable); t.lot can be changed while it waits (a
  -- notified condition waiter moves to its lock's queue).
  local function park_abort(t) lot_remove(t.lot, t); return true end
  local function park(t, lot)
    lot_push(lot, t)
    t.lot = lot
    suspend(t, function() return park_abort(t) end)
  end
  local function wake_one(lot)
    local t = lot_pop(lot)
    if t then wake(t, "ok") end
    return t
  end
  local function wake_all(lot)
    while wake_one(lot) do end
  end
  -- A free choice of the implementation (counted, so that a run that met
  -- none needs no other run).
  local function choose(p)
    stats.choices = stats.choices + 1
    if rng == nil then return false end
    return rng() < p
  end

  -- {=================================================================
  -- The scope tree
  -- =================================================================}
  local function eff(s)
    while s ~= nil do
      if s.cancelled then return true end
      if s.shield then return false end
      s = s.parent
    end
    return false
  end
  local function new_scope(kind, owner)
    return { kind = kind, owner = owner, children = {}, cancelled = false,
             shield = false, exited = false, caught = false }
  end
  local function link(s, parent)
    s.parent = parent
    parent.children[#parent.children + 1] = s
    s.linked = true
  end
  local function detach(s)
    if s.parent then lot_remove(s.parent.children, s) end
    s.parent = nil
    s.linked = false
  end
  local function subtree(s, out)
    out[#out + 1] = s
    for _, c in ipairs(s.children) do subtree(c, out) end
    return out
  end
  local function abort_task(t)
    local fn = t.abort
    if t.state ~= "waiting" or fn == nil then return end
    t.abort = nil
    if fn() then wake(t, "cancelled") end
  end
  -- Apply 'change' to the tree, then abort (in preorder) the waits of the
  -- tasks whose innermost scope became effectively cancelled.
  local function changing(s, change)
    local list = subtree(s, {})
    local before = {}
    for i, x in ipairs(list) do before[i] = eff(x) end
    change()
    list = subtree(s, {})
    for i, x in ipairs(list) do
      if eff(x) and not before[i] and x.owner and x.owner.scope == x then
        abort_task(x.owner)
      end
    end
  end
  local function unlink(s)
    if not s.linked then return end
    if s.kind ~= "task" then timer_clear(s.timer); s.timer = nil end
    detach(s)
  end
  local function move(s, parent)
    local list = subtree(s, {})
    local before = {}
    for i, x in ipairs(list) do before[i] = eff(x) end
    detach(s)
    link(s, parent)
    for i, x in ipairs(list) do
      if eff(x) and not before[i] and x.owner and x.owner.scope == x then
        abort_task(x.owner)
      end
    end
  end
  local function cancel(s, reason)
    if s.cancelled or s.exited then return end
    changing(s, function()
      s.cancelled = true
      s.reason = reason
      if s.kind ~= "task" then timer_clear(s.timer); s.timer = nil end
    end)
  end
  local function catches(s)
    if not s.cancelled then return false end
    if s.shield then return true end
    return s.parent == nil or not eff(s.parent)
  end

  -- {=================================================================
  -- Checkpoints
  -- =================================================================}
  local function raise_cancelled() error(CANCELLED, 0) end
  local function check_cancel(t)
    clock_fire()
    if eff(t.scope) then raise_cancelled() end
  end
  local function resumed(t)
    local w = t.wake
    t.wake = nil
    if w == "cancelled" then raise_cancelled() end
  end
  local function yield_now(t)
    enqueue(t)
    suspend(t, nil)
    resumed(t)
    check_cancel(t)
  end
  function api.checkpoint()
    local t = running()
    check_cancel(t)
    yield_now(t)
  end
  function api.sleep(d)
    local t = running()
    check_cancel(t)
    if d <= 0 then return yield_now(t) end
    local tm = timer_set(now + d, function()
      if t.state == "waiting" then wake(t, "ok") end
    end)
    t.sleep_timer = tm
    suspend(t, function() timer_clear(tm); return true end)
    resumed(t)
  end
  function api.current_task() return current and current.handle end

  -- {=================================================================
  -- Tasks
  -- =================================================================}
  local group_child_done
  local Task = {}
  Task.__index = Task

  local function new_task(fn, args, parent, g)
    local t = { state = "ready", status = "running", joiners = {},
                group = g }
    t.root = new_scope("task", t)
    link(t.root, parent)
    t.scope = t.root
    local h = setmetatable({ _t = t, status = "running" }, Task)
    t.handle = h
    t.co = coroutine.create(function()
      local r = pack(pcall(fn, unpack(args, 1, args.n)))
      if r[1] then
        t.status = "ok"
        t.results = pack(unpack(r, 2, r.n))
      elseif is_cancelled(r[2]) then
        if escape_fix and not eff(t.root) then
          t.status, t.err = "error", M.ESCAPED
        else
          t.status = "cancelled"
        end
      else
        t.status, t.err = "error", r[2]
      end
    end)
    ntasks = ntasks + 1
    enqueue(t)
    return t
  end

  local function task_finished(t)
    t.state = "done"
    t.abort = nil
    assert(t.scope == t.root, "model: a task ended inside a scope")
    timer_clear(t.sleep_timer)
    unlink(t.root)
    t.root.exited = true
    t.handle.status = t.status
    if t.group then group_child_done(t) end
    wake_all(t.joiners)
    ntasks = ntasks - 1
  end

  local function resume(t)
    t.state = "running"
    current = t
    local ok, y = coroutine.resume(t.co)
    current = nil
    if not ok then error("model: internal error in a task: " .. tostring(y)) end
    if coroutine.status(t.co) == "dead" then
      task_finished(t)
    else
      assert(y == TOKEN, "model: a task yielded something else")
      if t.state == "running" then t.state = "waiting" end
    end
  end

  local function outcome(t)
    if t.status == "ok" then return unpack(t.results, 1, t.results.n) end
    if t.status == "error" then error(t.err, 0) end
    error(setmetatable({}, TASKCANCELLED_MT), 0)
  end
  local function wait_done(t)
    local me = running()
    check_cancel(me)
    if t.state ~= "done" then
      assert(t ~= me)
      park(me, t.joiners)
      resumed(me)
    end
  end
  function Task:join()
    local t = self._t
    wait_done(t)
    return outcome(t)
  end
  function Task:wait()
    local t = self._t
    wait_done(t)
    if t.status == "ok" then return "ok", unpack(t.results, 1, t.results.n) end
    if t.status == "error" then return "error", t.err end
    return "cancelled"
  end
  function Task:result()
    local t = self._t
    if t.state ~= "done" then error("model: task has not finished", 2) end
    return outcome(t)
  end
  function Task:cancel()
    local t = self._t
    if t.state ~= "done" then cancel(t.root, "task") end
  end
  function Task:done() return self._t.state == "done" end

  -- {=================================================================
  -- Groups
  -- =================================================================}
  local function record(g, e)
    if e == nil then e = M.NILSTR end
    g.errors[#g.errors + 1] = e
  end
  local function group_fail(g)
    g.failed = true
    cancel(g.scope, "failed")
  end
  group_child_done = function(t)
    local g = t.group
    if t.starting then
      t.starting = false
    elseif t.status == "error" then
      record(g, t.err)
      group_fail(g)
    elseif t.status == "cancelled" then
      g.childcancel = true
    end
    g.nlive = g.nlive - 1
    wake_one(g.slots)
    if g.nlive == 0 and g.joining then wake(g.host, "ok") end
  end

  local Group = {}
  Group.__index = function(self, k)
    if k == "cancel_called" then return self._g.scope.cancelled end
    return Group[k]
  end
  local function check_open(g)
    if g.closed then error("model: the group is closed", 3) end
  end
  local function wait_for_room(g, me)
    while g.limit > 0 and g.nlive >= g.limit do
      check_cancel(me)
      park(me, g.slots)
      resumed(me)
      check_open(g)
    end
  end
  function Group:spawn(fn, ...)
    local g = self._g
    check_open(g)
    if g.limit > 0 and g.nlive >= g.limit then wait_for_room(g, running()) end
    local t = new_task(fn, pack(...), g.scope, g)
    g.nlive = g.nlive + 1
    return t.handle
  end
  function Group:start(fn, ...)
    local g = self._g
    check_open(g)
    local me = running()
    check_cancel(me)
    wait_for_room(g, me)
    local child
    local function started(...)
      if not child.starting then
        error("model: started() already called", 2)
      end
      child.starting = false
      child.started = true
      local caller = child.joiners[1]
      if caller then
        caller.start_vals = pack(...)
        lot_remove(child.joiners, caller)
        wake(caller, "ok")
      end
      if child.state ~= "done" then move(child.root, g.scope) end
    end
    child = new_task(fn, pack(started, ...), me.scope, g)
    child.starting = true
    g.nlive = g.nlive + 1
    lot_push(child.joiners, me)
    suspend(me, nil)
    me.wake = nil
    if child.started then
      local v = me.start_vals
      me.start_vals = nil
      return unpack(v, 1, v.n)
    end
    if child.status == "error" then error(child.err, 0) end
    check_cancel(me)
    error("model: g:start(): the task " .. (child.status == "cancelled"
          and "was cancelled" or "returned") .. " without calling started()",
          0)
  end
  function Group:cancel() cancel(self._g.scope, "group") end

  local function group_exit(g, r)
    local t = current
    assert(t == g.host and t.scope == g.scope, "model: group stack")
    local ok, err = r[1], r[2]
    if not ok then
      if not is_cancelled(err) then
        record(g, err)
        group_fail(g)
      elseif escape_fix and not eff(g.scope) then
        record(g, M.ESCAPED)
        group_fail(g)
      end
    end
    while g.nlive > 0 do
      g.joining = true
      suspend(t, nil)
      t.wake = nil
    end
    g.joining = false
    g.closed = true
    clock_fire()
    local caught = not ok and is_cancelled(err) and catches(g.scope)
    local outer = g.scope.parent ~= nil and eff(g.scope.parent)
    t.scope = g.scope.parent
    unlink(g.scope)
    g.scope.exited = true
    if #g.errors > 0 then
      error(setmetatable({ errors = g.errors }, EG_MT), 0)
    end
    if not ok then
      if caught then g.scope.caught = true; return end
      error(err, 0)
    end
    if g.childcancel and outer then raise_cancelled() end
    return unpack(r, 2, r.n)
  end

  function api.with_group(gopts, body)
    if body == nil then gopts, body = nil, gopts end
    gopts = gopts or {}
    local t = running()
    local g = { host = t, limit = gopts.limit or 0, nlive = 0,
                errors = {}, slots = {}, name = gopts.name }
    g.scope = new_scope("group", t)
    link(g.scope, t.scope)
    t.scope = g.scope
    local gobj = setmetatable({ _g = g }, Group)
    return group_exit(g, pack(pcall(body, gobj)))
  end

  -- {=================================================================
  -- User scopes
  -- =================================================================}
  local Scope = {}
  Scope.__index = function(self, k)
    local s = self._s
    if k == "cancel_called" then return s.cancelled end
    if k == "cancelled_caught" then return s.caught end
    if k == "shield" then return s.shield end
    return Scope[k]
  end
  local function set_deadline(s, when)
    if s.exited or s.cancelled then return end
    timer_clear(s.timer)
    s.timer = nil
    if when == math.huge then return end
    if when <= now then
      cancel(s, "deadline")
    else
      s.timer = timer_set(when, function()
        s.timer = nil
        cancel(s, "deadline")
      end)
    end
  end
  Scope.__newindex = function(self, k, v)
    assert(k == "shield", "model: cannot set field " .. tostring(k))
    local s = self._s
    if s.linked then
      changing(s, function() s.shield = v end)
    else
      s.shield = v
    end
  end
  function Scope:cancel() cancel(self._s, "explicit") end
  function Scope:reschedule(when) set_deadline(self._s, when or math.huge) end
  function Scope:expired()
    return self._s.cancelled and self._s.reason == "deadline"
  end

  local function enter(when, shield, raise, body)
    local t = running()
    local s = new_scope("user", t)
    s.shield = shield
    s.timeout = raise
    link(s, t.scope)
    t.scope = s
    set_deadline(s, when or math.huge)
    local sobj = setmetatable({ _s = s }, Scope)
    local r = pack(pcall(body, sobj))
    assert(t.scope == s, "model: scope stack")
    clock_fire()
    local ok, err = r[1], r[2]
    local caught = not ok and is_cancelled(err) and catches(s)
    if caught then s.caught = true end
    t.scope = s.parent
    unlink(s)
    s.exited = true
    if ok then return unpack(r, 2, r.n) end
    if not caught then error(err, 0) end
    if s.timeout and s.reason == "deadline" then
      error(setmetatable({}, TIMEOUT_MT), 0)
    end
  end
  function api.scope(body) return enter(nil, false, false, body) end
  function api.shield(body) return enter(nil, true, false, body) end
  function api.timeout(secs, body)
    return enter(secs and now + secs, false, true, body)
  end
  function api.timeout_at(when, body) return enter(when, false, true, body) end
  function api.move_on_after(secs, body)
    return enter(secs and now + secs, false, false, body)
  end
  function api.move_on_at(when, body) return enter(when, false, false, body) end

  -- {=================================================================
  -- Sync objects
  -- =================================================================}
  local function sync_cancelled(t)
    clock_fire()
    return eff(t.scope)
  end

  local Event = {}
  Event.__index = Event
  function api.event() return setmetatable({ set_ = false, lot = {} }, Event) end
  function Event:set() self.set_ = true; wake_all(self.lot) end
  function Event:wait()
    local t = running()
    check_cancel(t)
    if self.set_ then return end
    park(t, self.lot)
    resumed(t)
  end

  -- A with() of a lock or semaphore: 'take' returns true if it got the
  -- object at once; 'give' hands it to the next waiter or frees it.
  local function with_(obj, take, give, fn)
    local t = running()
    check_cancel(t)
    if not take(obj, t) then
      park(t, obj.lot)
      resumed(t)
      -- Handed over, but cancelled since: loom gives it on and raises;
      -- keeping it until the next checkpoint is allowed too.
      if sync_cancelled(t) and not choose(0.5) then
        give(obj)
        check_cancel(t)
      end
    end
    local r = pack(pcall(fn))
    give(obj, t)
    if not r[1] then error(r[2], 0) end
    return unpack(r, 2, r.n)
  end

  local Lock = {}
  Lock.__index = Lock
  function api.lock() return setmetatable({ lot = {} }, Lock) end
  local function lock_take(lk, t)
    if lk.owner == nil then lk.owner = t; return true end
    assert(lk.owner ~= t, "model: lock re-entered")
    return false
  end
  local function lock_give(lk, t)
    if t ~= nil and lk.owner ~= t then return end
    local w = lot_pop(lk.lot)
    lk.owner = w
    if w then wake(w, "ok") end
  end
  function Lock:with(fn) return with_(self, lock_take, lock_give, fn) end

  -- A condition over its own lock: wait() releases the lock, parks, and
  -- re-acquires it before returning or raising; after an abort the task
  -- queues for the lock again (further aborts only requeue it) and raises
  -- Cancelled once it holds the lock, if still cancelled then.
  local Cond = {}
  Cond.__index = Cond
  function api.condition()
    return setmetatable({ lk = api.lock(), lot = {} }, Cond)
  end
  function Cond:with(fn) return self.lk:with(fn) end
  function Cond:wait()
    local t = running()
    local lk = self.lk
    assert(lk.owner == t, "model: wait without the lock")
    check_cancel(t)
    lock_give(lk, t)
    park(t, self.lot)
    local aborted = false
    while true do
      if t.wake == "cancelled" then aborted = true end
      t.wake = nil
      if lk.owner == t then break end
      if lk.owner == nil then lk.owner = t; break end
      park(t, lk.lot)
    end
    if aborted then check_cancel(t) end
  end
  function Cond:notify(n)
    local t = running()
    assert(self.lk.owner == t, "model: notify without the lock")
    n = n or 1
    while n > 0 and #self.lot > 0 do
      local w = lot_pop(self.lot)
      lot_push(self.lk.lot, w)
      w.lot = self.lk.lot
      n = n - 1
    end
  end
  function Cond:notify_all() self:notify(math.huge) end

  local Sem = {}
  Sem.__index = Sem
  function api.semaphore(n) return setmetatable({ value = n, lot = {} }, Sem) end
  local function sem_take(s)
    if s.value > 0 then s.value = s.value - 1; return true end
    return false
  end
  local function sem_give(s)
    local w = lot_pop(s.lot)
    if w then wake(w, "ok") else s.value = s.value + 1 end
  end
  function Sem:with(fn) return with_(self, sem_take, sem_give, fn) end

  local Chan = {}
  Chan.__index = Chan
  function api.channel(cap)
    return setmetatable({ cap = cap or 0, buf = {}, hand = {}, recvq = {},
                          sendq = {} }, Chan)
  end
  function Chan:send(v)
    local t = running()
    check_cancel(t)
    local r = lot_pop(self.recvq)
    if r then
      self.hand[#self.hand + 1] = v
      wake(r, "ok")
      return
    end
    if #self.buf < self.cap then
      self.buf[#self.buf + 1] = v
      return
    end
    t.slot = v
    park(t, self.sendq)
    resumed(t)
    assert(t.slot == nil, "model: a sender woke with its value")
  end
  local function take_from_sender(s)
    local v = s.slot
    s.slot = nil
    wake(s, "ok")
    return v
  end
  function Chan:receive()
    local t = running()
    check_cancel(t)
    if #self.buf > 0 then
      local v = table.remove(self.buf, 1)
      local s = lot_pop(self.sendq)
      if s then self.buf[#self.buf + 1] = take_from_sender(s) end
      return v
    end
    local s = lot_pop(self.sendq)
    if s then return take_from_sender(s) end
    park(t, self.recvq)
    resumed(t)
    return assert(table.remove(self.hand, 1), "model: nothing handed over")
  end

  -- {=================================================================
  -- The run loop
  -- =================================================================}
  local function shuffle(list)
    for i = #list, 2, -1 do
      local j = 1 + math.floor(rng() * i)
      list[i], list[j] = list[j], list[i]
    end
  end

  function api.run(fn, ...)
    local root = new_task(fn, pack(...), top, nil)
    while true do
      if #ready > 0 then
        local batch = ready
        ready = {}
        if #batch > 1 then
          stats.choices = stats.choices + 1
          if rng then shuffle(batch) end
        end
        for _, t in ipairs(batch) do resume(t) end
      else
        local tm = timer_next()
        if tm == nil then break end
        if tm.when > now then now = tm.when end
        clock_fire()
      end
    end
    if ntasks > 0 then error("model: deadlock (a generator bug)", 0) end
    if root.status == "ok" then
      return unpack(root.results, 1, root.results.n)
    end
    if root.status == "error" then error(root.err, 0) end
    error(setmetatable({}, TASKCANCELLED_MT), 0)
  end

  return api
end

return M
