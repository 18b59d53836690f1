-- layers.lua: print the dependency graph of csrc/ and check its layering
-- (doc/DESIGN.md, "Layers"). Run from the repository root:
--
--   lua5.4 tools/layers.lua [--quiet]
--
-- Two graphs are read from the sources:
--  * includes: `#include "..."` lines. A file may include only headers of
--    its own folder or of the folders it builds on (LAYERS below); the
--    module opener csrc/loom.c may include all of them.
--  * calls: a file depends on another when it calls (or uses a macro of)
--    a `loom__` name the other defines. Within csrc/core/ every file may
--    depend only on the files before it in CORE_ORDER; within the other
--    folders the graph must have no cycle; across folders a file may
--    depend only on the folders its folder builds on.
-- Exits with status 1, listing every violation, if a rule is broken.

local quiet = arg[1] == "--quiet"

-- What each folder builds on (besides itself).
local LAYERS = {
  api = {},
  core = {},
  sync = { core = true },
  io = { core = true },
  embed = { core = true },
  thread = { core = true, embed = true },
  top = { core = true, sync = true, io = true, embed = true, thread = true },
}

-- The engine's files, lowest first (csrc/core/core.h lists them too).
local CORE_ORDER = { "args", "context", "wait", "parking", "clock",
                     "errors", "traceback", "scope", "sleep", "task",
                     "group", "introspect", "sched" }

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

local files = sh("ls csrc/*.c csrc/*.h csrc/*/*.c csrc/*/*.h 2>/dev/null")
if #files == 0 then
  io.stderr:write("layers.lua: no csrc/ here (run from the repository root)\n")
  os.exit(2)
end

-- csrc/loom.h is the public contract: every layer may include it.
local function folder_of(path)
  if path == "csrc/loom.h" then return "api" end
  return path:match("^csrc/(%w+)/") or "top"
end

local function base_of(path)
  return path:match("([%w_]+)%.[ch]$")
end

local rank = {}
for i, n in ipairs(CORE_ORDER) do rank[n] = i end

local problems = {}
local function problem(fmt, ...)
  problems[#problems + 1] = fmt:format(...)
end

-- Read every file once, without its comments.
local text = {}
for _, f in ipairs(files) do
  local h = assert(io.open(f))
  local s = h:read("a")
  h:close()
  s = s:gsub("/%*.-%*/", function(c) return (c:gsub("[^\n]", "")) end)
  text[f] = s
  if folder_of(f) == "core" and f:match("%.c$") and not rank[base_of(f)] then
    problem("%s: not in CORE_ORDER (tools/layers.lua)", f)
  end
end

-- Includes.
local function normalize(path)
  local parts = {}
  for p in path:gmatch("[^/]+") do
    if p == ".." then parts[#parts] = nil
    elseif p ~= "." then parts[#parts + 1] = p end
  end
  return table.concat(parts, "/")
end

local exists = {}
for _, f in ipairs(files) do exists[f] = true end

local includes = {}
for _, f in ipairs(files) do
  includes[f] = {}
  local dir = f:match("^(.*)/")
  for inc in text[f]:gmatch('#include%s+"([^"]+)"') do
    local target = normalize(dir .. "/" .. inc)
    if not exists[target] then goto continue end   -- a system header
    includes[f][#includes[f] + 1] = target
    local from, to = folder_of(f), folder_of(target)
    if from ~= to and to ~= "api" and not LAYERS[from][to] then
      problem("%s includes %s: %s/ does not build on %s/", f, target,
              from, to)
    end
    ::continue::
  end
end

-- Definitions: functions (a line starting at column 0 whose first name
-- followed by '(' is a loom__ name) and macros (#define loom__x).
local def = {}
for _, f in ipairs(files) do
  for line in text[f]:gmatch("[^\n]+") do
    local name = line:match("^[%a_][%w_ %*]-%f[%w_](loom__[%w_]+)%s*%(")
    if name and not line:match(";%s*$") then def[name] = f end
    local macro = line:match("^#define%s+(loom__[%w_]+)")
    if macro then def[macro] = f end
  end
  for name in text[f]:gmatch("static inline[^(]-%f[%w_](loom__[%w_]+)%s*%(") do
    def[name] = f
  end
end

-- Calls, as file -> set of files.
local deps, why = {}, {}
for _, f in ipairs(files) do
  deps[f], why[f] = {}, {}
  for name in text[f]:gmatch("%f[%w_](loom__[%w_]+)%s*%(") do
    local d = def[name]
    if d ~= nil and d ~= f then
      deps[f][d] = true
      why[f][d] = why[f][d] or name
    end
  end
end

-- A .c file and the header of its folder are one unit for layering: the
-- header declares what the folder's files define.
for f, ds in pairs(deps) do
  local from = folder_of(f)
  for d in pairs(ds) do
    local to = folder_of(d)
    if from ~= to and not LAYERS[from][to] then
      problem("%s uses %s (%s): %s/ does not build on %s/", f, why[f][d],
              d, from, to)
    elseif from == "core" and to == "core" and f:match("%.c$") and
           d:match("%.c$") then
      local a, b = rank[base_of(f)], rank[base_of(d)]
      if a and b and b >= a then
        problem("%s calls %s (%s), which is not below it in the engine",
                f, why[f][d], d)
      end
    end
  end
end

-- Cycles among the .c files of a folder.
local state = {}
local function visit(f, path)
  state[f] = "open"
  path[#path + 1] = f
  for d in pairs(deps[f]) do
    if d:match("%.c$") and folder_of(d) == folder_of(f) then
      if state[d] == "open" then
        local cyc, on = {}, false
        for _, p in ipairs(path) do
          if p == d then on = true end
          if on then cyc[#cyc + 1] = p end
        end
        cyc[#cyc + 1] = d
        problem("cycle: %s", table.concat(cyc, " -> "))
      elseif state[d] == nil then
        visit(d, path)
      end
    end
  end
  path[#path] = nil
  state[f] = "done"
end
for _, f in ipairs(files) do
  if f:match("%.c$") and state[f] == nil then visit(f, {}) end
end

if not quiet then
  print("csrc/ dependency graph (file: the files whose functions it uses; "
        .. "[headers it includes])")
  for _, f in ipairs(files) do
    if f:match("%.c$") then
      local ds = {}
      for d in pairs(deps[f]) do
        if d:match("%.c$") then ds[#ds + 1] = d:gsub("^csrc/", "") end
      end
      table.sort(ds)
      local incs = {}
      for _, i in ipairs(includes[f]) do incs[#incs + 1] = i:gsub("^csrc/", "") end
      print(("  %-22s %s  [%s]"):format(f:gsub("^csrc/", "") .. ":",
            table.concat(ds, " "), table.concat(incs, " ")))
    end
  end
end

if #problems > 0 then
  for _, p in ipairs(problems) do print("layers: " .. p) end
  os.exit(1)
end
print(("layers: ok (%d files, no cycle, no upward dependency)"):format(#files))
