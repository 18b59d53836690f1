--- Seeing inside a running program: `loom.tree`, `loom.dump`,
-- `loom.dump_on_signal`, `loom.configure`.
--
-- The snapshot itself is native (csrc/core/introspect.c walks the task
-- tree); this module turns it into text, one line per task, indented by
-- nesting like a `ps` tree.
--
-- Its functions are fields of `loom`: `loom.tree`, `loom.format_tree`,
-- `loom.dump`, `loom.dump_on_signal`, `loom.configure`. None is a
-- checkpoint; all work inside a task or from a host.
-- @module loom.introspect
local core = require "loom.core"
local util = require "loom._util"

local type, pairs, tostring = type, pairs, tostring
local format, concat = string.format, table.concat

local M = {}

--- A snapshot of every live task of the current run, as nested tables
-- (callable inside a task or from a host). Each node: `name`, `id`,
-- `status` (`"running"` for a live task), `state` (`"running"`, `"ready"`
-- or `"waiting"`), `spawned_at` (`"file:line"` or nil), `waiting` (what a
-- blocked task waits on: `"sleep"`, `"join task-7"`, `"tcp read"`...),
-- `waited` (seconds it has waited), `deadline` (the nearest deadline that
-- applies, on `loom.now()`'s clock, or nil), `shielded`, `cancelled`
-- (a cancellation is pending for it), `scopes` (its open scopes, outer
-- first: `{ kind =, deadline =, cancelled = }`) and `children`. During
-- `loom.run` the root is its root task; otherwise (a host loop) the root
-- is a node named `"loom"` whose children are the tasks of `loom.start`.
-- @treturn table
-- @usage local root = loom.tree()
-- for _, child in ipairs(root.children) do print(child.name) end
-- @function loom.tree
M.tree = core.tree

-- "task-3" or "task-3 'name'".
local function label(node)
  local id = node.id and ("task-" .. tostring(node.id))
  if id == nil then return tostring(node.name) end
  if node.name == id then return id end
  return format("%s '%s'", id, node.name)
end

local function seconds(x)
  if x >= 100 then return format("%.0f s", x) end
  if x >= 10 then return format("%.1f s", x) end
  return format("%.2f s", x)
end

local scope_words = {
  group = "group", timeout = "timeout", move_on = "move_on",
  scope = "scope", shield = "shield",
}

-- "group > timeout 4.20 s [cancelled]": the task's open scopes.
local function scopes_text(scopes, now)
  if scopes == nil or #scopes == 0 then return nil end
  local parts = {}
  for i = 1, #scopes do
    local s = scopes[i]
    local w = scope_words[s.kind] or tostring(s.kind)
    if s.deadline then w = w .. " " .. seconds(s.deadline - now) end
    if s.cancelled then w = w .. " [cancelled]" end
    parts[i] = w
  end
  return concat(parts, " > ")
end

-- The line of one task, without its tree prefix.
local function line(node, now)
  local out = { label(node) }
  if node.state == "waiting" then
    local w = "waiting for " .. tostring(node.waiting or "?")
    if node.waited then w = w .. ", " .. seconds(node.waited) end
    out[#out + 1] = w
  elseif node.state then
    out[#out + 1] = node.state
  else
    out[#out + 1] = node.status
  end
  if node.cancelled then out[#out + 1] = "cancelled" end
  if node.deadline then
    local left = node.deadline - now
    out[#out + 1] = left >= 0 and ("deadline in " .. seconds(left))
      or ("deadline passed " .. seconds(-left) .. " ago")
  end
  if node.shielded then out[#out + 1] = "shielded" end
  local sc = scopes_text(node.scopes, now)
  if sc then out[#out + 1] = "{" .. sc .. "}" end
  if node.spawned_at then out[#out + 1] = "at " .. node.spawned_at end
  return concat(out, "  ")
end

-- Append the lines of 'node' and its subtree to 'lines' (iterative: a
-- deep chain of nested groups does not overflow the C stack).
local function render(root, now, lines)
  local stack = { { root, "", "" } }
  local count = 0
  while #stack > 0 do
    local item = stack[#stack]
    stack[#stack] = nil
    local node, head, indent = item[1], item[2], item[3]
    if type(node) ~= "table" then
      util.argerror(1, "format_tree", "a node is a " .. type(node)
                    .. ", not a table (give loom.tree()'s result)", 3)
    end
    if node.id then count = count + 1 end
    lines[#lines + 1] = head .. line(node, now)
    local kids = node.children or {}
    for i = #kids, 1, -1 do
      local last = i == #kids
      stack[#stack + 1] = { kids[i], indent .. (last and "└─ " or "├─ "),
                            indent .. (last and "   " or "│  ") }
    end
  end
  return count
end

--- The text of `loom.dump` for a tree (as `loom.tree()` returns): a
-- header line, then one line per task, indented by nesting.
-- @function loom.format_tree
-- @tparam[opt] table tree default `loom.tree()`
-- @treturn string
-- @usage log(loom.format_tree())
function M.format_tree(tree)
  if tree == nil then tree = core.tree() end
  if type(tree) ~= "table" then util.typeerror(1, "format_tree", "table", tree) end
  local now = core.now()
  local lines = { "" }
  local n = render(tree, now, lines)
  lines[1] = format("loom: %d task%s, %s (loom.now() = %.3f)", n,
                    n == 1 and "" or "s", os.date("%Y-%m-%d %H:%M:%S"), now)
  return concat(lines, "\n") .. "\n"
end

--- Write the task tree as text to `file` (default `io.stderr`). One line
-- per task, indented by nesting, with its name, what it waits on and for
-- how long, its deadline if any, its open scopes and `spawned_at`.
-- @function loom.dump
-- @param[opt] file anything with a `write` method (a file, a table)
-- @raise an argument error if `file` has no `write` method
-- @usage loom.dump()
function M.dump(file)
  if file == nil then file = io.stderr end
  local ty = type(file)
  if (ty ~= "table" and ty ~= "userdata") or file.write == nil then
    util.argerror(1, "dump", "file expected")
  end
  file:write(M.format_tree(core.tree()))
  if file.flush then file:flush() end
end

local function dump_to_stderr()
  M.dump(io.stderr)
end

--- From now on, make the signal `name` (such as `"SIGUSR1"`) write
-- `loom.dump()` to stderr. The dump is written from the loop's thread
-- (never from the signal handler) while the loop runs (`loom.run`, or a
-- host's loop); the program goes on. The watcher does not keep the loop
-- alive. `nil` or `false` stops it (the
-- signal takes its default action again). SIGINT is refused: it is
-- Ctrl-C. The environment variable `LOOM_DUMP_SIGNAL=SIGUSR1` does the
-- same for any program when loom is loaded.
-- @function loom.dump_on_signal
-- @tparam string|integer|false|nil name
-- @raise `loom.IOError` (op "signal") if the signal cannot be watched;
-- an argument error for SIGINT
-- @usage loom.dump_on_signal("SIGUSR1")   -- then: kill -USR1 <pid>
function M.dump_on_signal(name)
  local _, code, msg = core.dump_on_signal(name, dump_to_stderr)
  if code ~= nil then util.raise_io(code, msg, "signal") end
end

local options = {
  spawn_sites = core.configure_spawn_sites,
  internal_frames = core.configure_internal_frames,
}

--- Set loom's options, `spawn_sites` and `internal_frames`. `spawn_sites`
-- (default true): every task records `t.spawned_at`; false saves the few
-- hundred instructions per spawn that costs. `internal_frames` (default
-- false): tracebacks leave out the frames of loom's own machinery; true
-- keeps them, for work on loom.
-- @function loom.configure
-- @tparam table opts
-- @raise an argument error for an unknown option or a value that is not
-- a boolean
-- @usage loom.configure{ spawn_sites = false }
function M.configure(opts)
  if type(opts) ~= "table" then util.typeerror(1, "configure", "table", opts) end
  for k, v in pairs(opts) do
    local set = options[k]
    if set == nil then
      util.argerror(1, "configure", "unknown option '" .. tostring(k) .. "'")
    end
    if type(v) ~= "boolean" then
      util.argerror(1, "configure", "option '" .. tostring(k)
                    .. "' must be a boolean")
    end
    set(v)
  end
end

core.mark_wrappers(M)

return M
