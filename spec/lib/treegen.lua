--- Random task trees: a seeded generator of small loom programs and a
-- printer that shows one as readable pseudo-Lua.
--
-- A program is a tree of statement nodes, each with a unique `id`:
--
--   sleep d | zero (sleep(0) or checkpoint()) | fail kind
--   ret vals (return from the enclosing function)
--   group {limit, name, body} | spawn {g, body} | start {g, body}
--   started vals (in the body of a start child)
--   scope {kind, secs, body}   kind: scope timeout timeout_at move_on
--                                    move_on_at shield
--   cancel target | resched target x (s:reschedule(now + x))
--   pcall {mode = swallow | reraise | save, body}
--   reraise (error(saved Cancelled, 0)) | nop
--   close {wait, body} (a <close> variable; its handler may wait, shielded)
--   ev_wait ev | ev_set ev | lock {lk, body} | sem {body}
--   cond {body} (cv:with) | cwait | notify {all}
--   send ch | recv ch | join t | wait t | shieldset target on
--
-- The generator keeps every program finite and free of deadlocks: every
-- wait on a sync object has a finite deadline between it and the nearest
-- shield (the generator wraps it in a move_on_after otherwise), sleeps are
-- finite, a task only joins tasks spawned before it that are not its
-- ancestors, and no task takes a lock it holds. Durations are random reals,
-- so two unrelated events practically never fall on the same instant.
-- Programs never use math.random (their own PRNG, so the suite's random
-- state is left alone).
local M = {}

--- splitmix64: rng() -> float in [0, 1); rng(n) -> integer 1..n;
-- rng(a, b) -> integer a..b.
function M.rng(seed)
  local s = math.tointeger(seed) or 0
  return function(a, b)
    s = s + 0x9E3779B97F4A7C15
    local z = s
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    z = z ~ (z >> 31)
    local f = (z >> 11) * (1.0 / 9007199254740992.0)
    if a == nil then return f end
    if b == nil then a, b = 1, a end
    return a + math.floor(f * (b - a + 1))
  end
end

local FAIL_KINDS = {
  { "string", 30 }, { "table", 25 }, { "nil", 10 }, { "nan", 10 },
  { "false", 10 }, { "int", 8 }, { "float", 7 },
}

local function weighted(R, list)
  local total = 0
  for _, e in ipairs(list) do total = total + e[2] end
  local x = R() * total
  for _, e in ipairs(list) do
    x = x - e[2]
    if x < 0 then return e[1] end
  end
  return list[#list][1]
end

local function copy(t)
  local r = {}
  for k, v in pairs(t) do r[k] = v end
  return r
end

local function append(list, v)
  local r = copy(list)
  r[#r + 1] = v
  return r
end

--- Generate the program of `seed`. opts.escapes (default true): re-raises
-- of a saved Cancelled outside its scope, and shields switched on; when
-- false the re-raises become `nop` and the shields stay off (the rest of
-- the tree is the same).
function M.generate(seed, opts)
  opts = opts or {}
  local escapes = opts.escapes ~= false
  local R = M.rng(seed)
  local nid = 0
  local function newid() nid = nid + 1; return nid end
  local budget = 12 + R(0, 45)
  local maxdepth = 3 + R(0, 2)

  local prog = { seed = seed, nevents = 2, nlocks = 2,
                 sem_value = R(1, 2), chans = {} }
  for i = 1, R(1, 2) do prog.chans[i] = R(0, 2) end

  local function dur()
    if R() < 0.8 then return 0.01 + R() * 1.2 end
    return 1.5 + R() * 2
  end
  local function deadline()
    local r = R()
    if r < 0.2 then
      local e = { 0, -0.25, -1e-3 }
      return e[R(3)]
    end
    return 0.01 + R() * 1.5
  end
  local function vals(prefix, id, maxn)
    local n = R(0, maxn)
    local v = { n = n }
    for k = 1, n do
      local r = R()
      if r < 0.6 then v[k] = ("%s%d_%d"):format(prefix, id, k)
      elseif r < 0.75 then v[k] = nil
      elseif r < 0.9 then v[k] = id * 10 + k
      else v[k] = true end
    end
    return v
  end

  local gen_block, gen_stmt, gen_cond_body
  local isgroup, scopeinfo = {}, {}

  -- c: ctx of the code being generated (see the fields below).
  local function derive(c, changes)
    local d = copy(c)
    for k, v in pairs(changes) do d[k] = v end
    return d
  end

  -- A sync wait needs a finite deadline below the nearest shield: wrap it
  -- in a move_on_after when there is none.
  local function bounded(c, make)
    if c.bounded then return make(c) end
    local w = { op = "scope", id = newid(), kind = "move_on",
                secs = 0.05 + R() * 1.5, wrap = true }
    budget = budget - 1
    local c2 = derive(c, { bounded = true, scopes = append(c.scopes, w.id),
                           depth = c.depth + 1 })
    w.body = { make(c2) }
    return w
  end

  -- The code of a task spawned into group 'grp': it may outlive the
  -- groups opened inside grp's body, so it only sees grp and the groups
  -- around it.
  local function task_ctx(c, id, isbounded, grp)
    local groups = {}
    for _, g in ipairs(c.groups) do
      groups[#groups + 1] = g
      if g == grp then break end
    end
    return derive(c, { task = id, bounded = isbounded, locks = {},
                       depth = c.depth + 1, prev = {}, groups = groups })
  end

  local function gen_fail()
    local kind = weighted(R, FAIL_KINDS)
    return { op = "fail", id = newid(), kind = kind,
             level = (kind == "string" and R() < 0.5) and 1 or 0 }
  end

  local function gen_group(c)
    local n = { op = "group", id = newid() }
    isgroup[n.id] = true
    if R() < 0.12 then n.limit = R(1, 2) end
    if R() < 0.2 then n.name = "G" .. n.id end
    local c2 = derive(c, {
      groups = append(c.groups, { id = n.id, bounded = c.bounded,
                                  limit = n.limit, task = c.task }),
      scopes = append(c.scopes, n.id), depth = c.depth + 1, prev = {} })
    n.body = gen_block(c2, 1, 4, true, n.id)
    return n
  end

  -- Spawning into a group with a limit waits for room: only its host task
  -- may do that (a member that waits for room can hold the last slot).
  local function open_groups(c)
    local l = {}
    for _, g in ipairs(c.groups) do
      if not g.limit or g.task == c.task then l[#l + 1] = g end
    end
    return l
  end
  local function pick_group(c)
    local l = open_groups(c)
    if #l == 0 then return nil end
    if R() < 0.7 then return l[#l] end
    return l[R(#l)]
  end

  local function gen_spawn(c, grp)
    grp = grp or pick_group(c)
    if grp == nil then return { op = "zero", id = newid(), cp = false } end
    local n = { op = "spawn", id = newid(), g = grp.id }
    n.body = gen_block(task_ctx(c, n.id, grp.bounded, grp), 1, 4, true)
    return n
  end

  local function gen_start(c)
    local grp = pick_group(c)
    if grp == nil then return { op = "zero", id = newid(), cp = false } end
    local n = { op = "start", id = newid(), g = grp.id }
    local body = gen_block(task_ctx(c, n.id, grp.bounded and c.bounded, grp),
                           1, 3, true)
    if R() < 0.8 then
      local last = body[#body]
      local hi = #body + 1
      if last and (last.op == "ret" or last.op == "fail") then hi = #body end
      local st = { op = "started", id = newid() }
      st.vals = vals("p", st.id, 2)
      table.insert(body, R(1, hi), st)
    end
    n.body = body
    return n
  end

  local SCOPE_KINDS = {
    { "scope", 14 }, { "timeout", 22 }, { "timeout_at", 8 },
    { "move_on", 22 }, { "move_on_at", 8 }, { "shield", 10 },
  }

  local function gen_scope(c, kind, secs)
    local n = { op = "scope", id = newid(), kind = kind or
                weighted(R, SCOPE_KINDS) }
    if n.kind ~= "scope" and n.kind ~= "shield" then
      if secs ~= nil then n.secs = secs
      elseif R() >= 0.12 then n.secs = deadline() end
    end
    scopeinfo[n.id] = n
    local b = c.bounded
    if n.kind == "shield" then b = false
    elseif n.secs ~= nil then b = true end
    local c2 = derive(c, { bounded = b, scopes = append(c.scopes, n.id),
                           depth = c.depth + 1, prev = {} })
    n.body = gen_block(c2, 1, 3, true)
    return n, c2
  end

  -- The escape pattern: a scope whose body catches the Cancelled with
  -- pcall and saves it, then a re-raise after the scope was left.
  local function gen_escape(c)
    local kinds = { { "move_on", 50 }, { "timeout", 20 }, { "scope", 15 },
                    { "move_on_at", 15 } }
    local kind = weighted(R, kinds)
    local secs
    if kind ~= "scope" then
      secs = R() < 0.25 and 0 or 0.01 + R() * 0.8
    end
    local s = { op = "scope", id = newid(), kind = kind, secs = secs,
                escape = true }
    local c2 = derive(c, { bounded = kind ~= "scope" or c.bounded,
                           scopes = append(c.scopes, s.id),
                           depth = c.depth + 1, prev = {} })
    local body = {}
    local function push(x)
      for _, y in ipairs(x.op and { x } or x) do body[#body + 1] = y end
    end
    if R() < 0.3 then push(gen_stmt(c2)) end
    if kind == "scope" then
      body[#body + 1] = { op = "cancel", id = newid(), target = s.id,
                          what = "scope" }
    end
    local pc = { op = "pcall", id = newid(), mode = "save" }
    local inner = {}
    local r = R()
    if r < 0.6 then
      inner[1] = { op = "sleep", id = newid(), d = 0.05 + R() * 1.5 }
    elseif r < 0.8 then
      inner[1] = { op = "zero", id = newid(), cp = R() < 0.5 }
    else
      inner = gen_block(c2, 1, 2, true)
    end
    pc.body = inner
    body[#body + 1] = pc
    if R() < 0.3 then push(gen_stmt(c2)) end
    s.body = body
    local out = { s }
    if R() < 0.2 then
      local x = gen_stmt(c)
      for _, y in ipairs(x.op and { x } or x) do out[#out + 1] = y end
    end
    out[#out + 1] = { op = escapes and "reraise" or "nop", id = newid() }
    return out
  end

  local function gen_cancel(c)
    local targets = {}
    for _, id in ipairs(c.scopes) do
      targets[#targets + 1] = { id, isgroup[id] and "group" or "scope" }
    end
    for _, id in ipairs(c.prev) do
      targets[#targets + 1] = { id, isgroup[id] and "group" or "scope" }
    end
    for _, id in ipairs(c.handles) do
      targets[#targets + 1] = { id, "task" }
    end
    if #targets == 0 then return nil end
    local t = targets[R(#targets)]
    return { op = "cancel", id = newid(), target = t[1], what = t[2] }
  end

  gen_stmt = function(c)
    budget = budget - 1
    local deep = c.depth >= maxdepth or budget <= 0
    local choices = {
      { "sleep", 18 }, { "zero", 5 }, { "fail", 4 }, { "cancel", 8 },
      { "pcall", deep and 0 or 6 }, { "escape", deep and 0 or 4 },
      { "close", deep and 0 or 5 }, { "ev_wait", 3 }, { "ev_set", 3 },
      { "lock", deep and 0 or 2 }, { "sem", deep and 0 or 1 },
      { "cond", deep and 0 or 3 },
      { "send", 2 }, { "recv", 2 }, { "resched", 2 }, { "shieldset", 2 },
      { "group", deep and 0 or 9 }, { "scope", deep and 0 or 12 },
    }
    if #c.groups > 0 then
      choices[#choices + 1] = { "spawn", deep and 0 or 12 }
      choices[#choices + 1] = { "start", deep and 0 or 4 }
    end
    if #c.handles > 0 then
      choices[#choices + 1] = { "join", 3 }
      choices[#choices + 1] = { "wait", 2 }
    end
    local k = weighted(R, choices)
    if k == "sleep" then return { op = "sleep", id = newid(), d = dur() }
    elseif k == "zero" then
      return { op = "zero", id = newid(), cp = R() < 0.5 }
    elseif k == "fail" then return gen_fail()
    elseif k == "cancel" then
      return gen_cancel(c) or { op = "zero", id = newid(), cp = true }
    elseif k == "pcall" then
      local n = { op = "pcall", id = newid(),
                  mode = R() < 0.5 and "swallow" or "reraise" }
      n.body = gen_block(derive(c, { depth = c.depth + 1, prev = {} }), 1, 3,
                         true)
      return n
    elseif k == "escape" then return gen_escape(c)
    elseif k == "close" then
      local n = { op = "close", id = newid() }
      if R() < 0.3 then n.wait = 0.01 + R() * 0.5 end
      n.body = gen_block(derive(c, { depth = c.depth + 1, prev = {} }), 1, 3,
                         false)
      return n
    elseif k == "ev_wait" then
      return bounded(c, function()
        return { op = "ev_wait", id = newid(), ev = R(prog.nevents) }
      end)
    elseif k == "ev_set" then
      return { op = "ev_set", id = newid(), ev = R(prog.nevents) }
    elseif k == "lock" then
      local free = {}
      for i = 1, prog.nlocks do
        if not c.locks[i] then free[#free + 1] = i end
      end
      if #free == 0 then return { op = "sleep", id = newid(), d = dur() } end
      local lk = free[R(#free)]
      return bounded(c, function(c2)
        local n = { op = "lock", id = newid(), lk = lk }
        local locks = copy(c2.locks)
        locks[lk] = true
        n.body = gen_block(derive(c2, { locks = locks, depth = c2.depth + 1,
                                        prev = {} }), 1, 3, true)
        return n
      end)
    elseif k == "cond" then
      if c.locks.cond then return { op = "sleep", id = newid(), d = dur() } end
      return bounded(c, function(c2)
        return { op = "cond", id = newid(), body = gen_cond_body(c2) }
      end)
    elseif k == "sem" then
      return bounded(c, function(c2)
        local n = { op = "sem", id = newid() }
        n.body = gen_block(derive(c2, { depth = c2.depth + 1, prev = {} }), 1,
                           3, true)
        return n
      end)
    elseif k == "send" or k == "recv" then
      return bounded(c, function()
        return { op = k, id = newid(), ch = R(#prog.chans) }
      end)
    elseif k == "resched" then
      local targets = {}
      for _, id in ipairs(c.scopes) do
        if not isgroup[id] then targets[#targets + 1] = id end
      end
      if #targets == 0 then return { op = "sleep", id = newid(), d = dur() } end
      return { op = "resched", id = newid(), target = targets[R(#targets)],
               x = -0.3 + R() * 1.8 }
    elseif k == "shieldset" then
      -- Turn the shield of an enclosing scope off, or on where the scope
      -- has a deadline of its own (so every wait inside stays bounded).
      local targets = {}
      for _, id in ipairs(c.scopes) do
        local sc = scopeinfo[id]
        if sc and (sc.kind == "shield" or sc.secs ~= nil) then
          targets[#targets + 1] = sc
        end
      end
      if #targets == 0 then return { op = "zero", id = newid(), cp = true } end
      local sc = targets[R(#targets)]
      -- Switched on while a Cancelled unwinds below it, a shield can leave
      -- that Cancelled with no cancelled scope around it: an escape too
      -- (issue 10 item 2), so only with opts.escapes.
      local on = sc.secs ~= nil and R() < 0.5
      return { op = "shieldset", id = newid(), target = sc.id,
               on = on and escapes }
    elseif k == "group" then
      return gen_group(c)
    elseif k == "scope" then return (gen_scope(c))
    elseif k == "spawn" then return gen_spawn(c)
    elseif k == "start" then return gen_start(c)
    elseif k == "join" or k == "wait" then
      return { op = k, id = newid(), t = c.handles[R(#c.handles)] }
    end
    error("treegen: unknown choice " .. tostring(k))
  end

  -- The body of cv:with(): while it holds the condition's lock a task only
  -- sleeps, waits on the condition (which releases the lock), notifies,
  -- fails or returns, so a task waiting to re-acquire the lock (which
  -- ignores cancellation) never waits for a task that waits for it.
  gen_cond_body = function(_c)
    local blk = {}
    for _ = 1, R(1, 3) do
      budget = budget - 1
      local r = R()
      if r < 0.35 then
        blk[#blk + 1] = { op = "cwait", id = newid() }
      elseif r < 0.6 then
        blk[#blk + 1] = { op = "notify", id = newid(),
                          all = R() < 0.3 }
      elseif r < 0.75 then
        blk[#blk + 1] = { op = "sleep", id = newid(), d = dur() }
      elseif r < 0.85 then
        blk[#blk + 1] = { op = "zero", id = newid(), cp = R() < 0.5 }
      else
        blk[#blk + 1] = { op = "pcall", id = newid(), mode = "swallow",
                          body = { { op = "cwait", id = newid() } } }
      end
    end
    local r = R()
    if r < 0.15 then
      local id = newid()
      blk[#blk + 1] = { op = "ret", id = id, vals = vals("v", id, 2) }
    elseif r < 0.22 then
      blk[#blk + 1] = gen_fail()
    end
    return blk
  end

  -- A block of statements; 'fnbody': the body of a function (a terminal
  -- return is likelier there); 'gid': the block is the body of group gid
  -- (it starts with a spawn into it, most of the time).
  gen_block = function(c, nmin, nmax, fnbody, gid)
    local blk = {}
    c = derive(c, { handles = copy(c.handles), prev = {} })
    local n = R(nmin, nmax)
    for i = 1, n do
      if budget <= 0 and i > nmin then break end
      local s
      if gid and i == 1 and R() < 0.15 then
        -- A cluster: siblings that meet on the condition or a lock.
        s = {}
        local grp = c.groups[#c.groups]
        local kind = R() < 0.6 and "cond" or "lock"
        for _ = 1, R(2, 4) do
          local t = { op = "spawn", id = newid(), g = grp.id }
          local tc = task_ctx(c, t.id, grp.bounded, grp)
          t.body = { bounded(tc, function(c2)
            if kind == "cond" then
              return { op = "cond", id = newid(), body = gen_cond_body(c2) }
            end
            local node = { op = "lock", id = newid(), lk = 1 }
            node.body = gen_block(derive(c2, { locks = { true },
                                               depth = c2.depth + 1 }),
                                  1, 2, true)
            return node
          end) }
          if R() < 0.4 then
            local more = gen_stmt(tc)
            for _, x in ipairs(more.op and { more } or more) do
              t.body[#t.body + 1] = x
            end
          end
          s[#s + 1] = t
          budget = budget - 2
        end
      elseif gid and i == 1 and R() < 0.85 then
        s = gen_spawn(c, c.groups[#c.groups])
        budget = budget - 1
      else
        s = gen_stmt(c)
      end
      local list = s.op and { s } or s
      for _, x in ipairs(list) do
        blk[#blk + 1] = x
        if x.op == "spawn" then c.handles = append(c.handles, x.id) end
        if x.op == "scope" or x.op == "group" then
          c.prev = append(c.prev, x.id)
        end
      end
    end
    local r = R()
    if r < (fnbody and 0.3 or 0.08) then
      local id = newid()
      blk[#blk + 1] = { op = "ret", id = id, vals = vals("v", id, 3) }
    elseif r < (fnbody and 0.35 or 0.11) then
      blk[#blk + 1] = gen_fail()
    end
    return blk
  end

  local root = { task = 0, depth = 0, groups = {}, scopes = {}, handles = {},
                 bounded = false, locks = {}, prev = {} }
  local body
  if R() < 0.85 then
    local c = derive(root, {})
    budget = budget - 1
    body = { gen_group(c) }
    for _ = 1, R(0, 2) do
      local s = gen_stmt(c)
      for _, x in ipairs(s.op and { s } or s) do body[#body + 1] = x end
    end
    if R() < 0.3 then
      local id = newid()
      body[#body + 1] = { op = "ret", id = id, vals = vals("v", id, 3) }
    end
  else
    body = gen_block(root, 1, 4, true)
  end
  prog.body = body
  prog.nodes = nid
  return prog
end

-- {===================================================================
-- The printer
-- ===================================================================}

local function fmt(v)
  if v == nil then return "nil" end
  if type(v) == "string" then return ("%q"):format(v) end
  if math.type(v) == "float" then return ("%.4f"):format(v) end
  return tostring(v)
end

local function fmtvals(v)
  local out = {}
  for i = 1, v.n do out[i] = fmt(v[i]) end
  return table.concat(out, ", ")
end

local FAIL_TEXT = {
  string = function(n)
    return n.level == 1 and ('error("E%d")'):format(n.id)
      or ('error("E%d", 0)'):format(n.id)
  end,
  table = function(n) return ("error({ E%d })"):format(n.id) end,
  ["nil"] = function() return "error(nil)" end,
  nan = function() return "error(0/0)" end,
  ["false"] = function() return "error(false)" end,
  int = function(n) return ("error(%d)"):format(100000 + n.id) end,
  float = function(n) return ("error(%.1f)"):format(n.id + 0.5) end,
}

local SCOPE_CALL = {
  scope = "loom.scope(", shield = "loom.shield(",
  timeout = "loom.timeout(%s, ", move_on = "loom.move_on_after(%s, ",
  timeout_at = "loom.timeout_at(now() + %s, ",
  move_on_at = "loom.move_on_at(now() + %s, ",
}

--- The program as readable pseudo-Lua, one statement a line, each with
-- its node id (#n) at the end; with `obs` (the record of a run,
-- spec/lib/treerun.lua), also what happened there: "-" not reached,
-- "raised" (left by an error), the outcome, a task's final status.
function M.dump(prog, obs)
  local lines = {}
  local function line(ind, text, id)
    local s = string.rep("  ", ind) .. text
    if id then
      s = s .. string.rep(" ", math.max(1, 56 - #s)) .. "-- #" .. id
      if obs then
        local st = obs[id]
        local notes = {}
        if st == nil then notes[1] = "-"
        elseif st == "r" then notes[1] = "raised" end
        if obs["o" .. id] then notes[#notes + 1] = obs["o" .. id] end
        if obs["t" .. id] then notes[#notes + 1] = "task " .. obs["t" .. id] end
        if #notes > 0 then s = s .. "  [" .. table.concat(notes, "; ") .. "]" end
      end
    end
    lines[#lines + 1] = s
  end
  local block
  local function stmt(n, ind)
    local op = n.op
    if op == "sleep" then line(ind, ("loom.sleep(%.4f)"):format(n.d), n.id)
    elseif op == "zero" then
      line(ind, n.cp and "loom.checkpoint()" or "loom.sleep(0)", n.id)
    elseif op == "fail" then line(ind, FAIL_TEXT[n.kind](n), n.id)
    elseif op == "ret" then line(ind, "return " .. fmtvals(n.vals), n.id)
    elseif op == "started" then
      line(ind, "started(" .. fmtvals(n.vals) .. ")", n.id)
    elseif op == "group" then
      local o = {}
      if n.name then o[#o + 1] = ("name = %q"):format(n.name) end
      if n.limit then o[#o + 1] = "limit = " .. n.limit end
      local opts = #o > 0 and ("{ " .. table.concat(o, ", ") .. " }, ") or ""
      line(ind, ("loom.with_group(%sfunction(g%d)"):format(opts, n.id), n.id)
      block(n.body, ind + 1)
      line(ind, "end)")
    elseif op == "spawn" or op == "start" then
      line(ind, ("t%d = g%d:%s(function(%s)"):format(n.id, n.g, op,
           op == "start" and "started" or ""), n.id)
      block(n.body, ind + 1)
      line(ind, "end)")
    elseif op == "scope" then
      local call = SCOPE_CALL[n.kind]
      if n.secs == nil then
        call = call:gsub("now%(%) %+ %%s, ", "nil, "):gsub("%%s, ", "nil, ")
      else
        call = call:format(("%.4f"):format(n.secs))
      end
      line(ind, ("%sfunction(s%d)%s"):format(call, n.id,
           n.wrap and "   -- (bound for a wait)" or ""), n.id)
      block(n.body, ind + 1)
      line(ind, "end)")
    elseif op == "cancel" then
      local pre = n.what == "task" and "t" or n.what == "group" and "g" or "s"
      line(ind, ("%s%d:cancel()"):format(pre, n.target), n.id)
    elseif op == "shieldset" then
      line(ind, ("s%d.shield = %s"):format(n.target, tostring(n.on)), n.id)
    elseif op == "resched" then
      line(ind, ("s%d:reschedule(now() %s %.4f)"):format(n.target,
           n.x < 0 and "-" or "+", math.abs(n.x)), n.id)
    elseif op == "pcall" then
      line(ind, "local ok, e = pcall(function()", n.id)
      block(n.body, ind + 1)
      local tail = {
        swallow = "end)            -- swallow",
        reraise = "end); if not ok then error(e, 0) end",
        save = "end); if not ok then if is_cancelled(e) then saved = e "
               .. "else error(e, 0) end end",
      }
      line(ind, tail[n.mode])
    elseif op == "reraise" then
      line(ind, "if saved then error(saved, 0) end", n.id)
    elseif op == "nop" then
      line(ind, "-- (re-raise of the saved Cancelled: disabled)", n.id)
    elseif op == "close" then
      line(ind, "do local c <close> = cleanup(" ..
           (n.wait and ("shielded sleep %.4f"):format(n.wait) or "") .. ")",
           n.id)
      block(n.body, ind + 1)
      line(ind, "end")
    elseif op == "ev_wait" then line(ind, ("ev%d:wait()"):format(n.ev), n.id)
    elseif op == "ev_set" then line(ind, ("ev%d:set()"):format(n.ev), n.id)
    elseif op == "cond" then
      line(ind, "cv:with(function()", n.id)
      block(n.body, ind + 1)
      line(ind, "end)")
    elseif op == "cwait" then line(ind, "cv:wait()", n.id)
    elseif op == "notify" then
      line(ind, n.all and "cv:notify_all()" or "cv:notify()", n.id)
    elseif op == "lock" or op == "sem" then
      line(ind, ("%s:with(function()"):format(op == "lock" and "lk" .. n.lk
           or "sem"), n.id)
      block(n.body, ind + 1)
      line(ind, "end)")
    elseif op == "send" then
      line(ind, ('ch%d:send("c%d")'):format(n.ch, n.id), n.id)
    elseif op == "recv" then line(ind, ("ch%d:receive()"):format(n.ch), n.id)
    elseif op == "join" then
      line(ind, ("pcall(t%d.join, t%d) -- Cancelled re-raised"):format(n.t,
           n.t), n.id)
    elseif op == "wait" then line(ind, ("t%d:wait()"):format(n.t), n.id)
    else line(ind, "?? " .. tostring(op), n.id) end
  end
  block = function(b, ind)
    for _, n in ipairs(b) do stmt(n, ind) end
  end
  local caps = {}
  for i, c in ipairs(prog.chans) do caps[i] = ("ch%d = channel(%d)"):format(i, c) end
  line(0, ("-- tree seed %d: %d nodes; ev1, ev2 = event(); lk1, lk2 = lock(); "
           .. "cv = condition(); sem = semaphore(%d); %s"):format(prog.seed, prog.nodes,
           prog.sem_value, table.concat(caps, "; ")))
  line(0, "testing.run(function()")
  block(prog.body, 1)
  line(0, "end)")
  if obs then line(0, "-- run: " .. tostring(obs.root)) end
  return table.concat(lines, "\n")
end

return M
