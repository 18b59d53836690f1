-- doccheck.lua [DIR]: checks of the reference manual that ldoc does not
-- make, run by tools/doc.sh after ldoc wrote DIR (default build/doc):
--
--  - every lua/loom/*.lua file is in config.ld's `file` list or in its
--    `exclude` list (a new module is not left out of the manual unseen);
--  - every export of `require "loom"` (an `M.name =` of lua/loom/init.lua,
--    but `core`) has an entry: an anchor `name` on the page of `loom`,
--    an anchor `loom.name` on another page, or a page `loom.name`;
--  - every link between the pages leads to a page and an anchor that
--    exist (ldoc checks its own @{references}, not markdown links);
--  - no backquote is left in the text of a page: a `code span` that
--    markdown did not render (one cut by a line break, an odd number of
--    backquotes) shows up there.
--
-- Prints one line per problem; exits 1 if there is any.
local dir = arg[1] or "build/doc"
local problems = {}
local function problem(fmt, ...)
  problems[#problems + 1] = fmt:format(...)
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function lines_of(cmd)
  local out, p = {}, assert(io.popen(cmd))
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

-- config.ld is Lua: run it in a table of its own.
local cfg = {}
local chunk = assert(load(assert(read("config.ld"), "config.ld missing"),
                          "config.ld", "t", cfg))
cfg.manual_url = function() end
chunk()
local listed = {}
for _, f in ipairs(cfg.file or {}) do listed[f] = true end
for _, f in ipairs(cfg.file and cfg.file.exclude or {}) do listed[f] = true end
for _, f in ipairs(lines_of("ls lua/loom/*.lua")) do
  if not listed[f] then
    problem("config.ld: %s is neither in `file` nor in `exclude`", f)
  end
end

-- The pages and their anchors.
local pages = {}
for _, path in ipairs(lines_of("cd " .. dir .. " && find . -name '*.html'")) do
  local rel = path:gsub("^%./", "")
  local html = read(dir .. "/" .. rel)
  local anchors = {}
  for name in html:gmatch('<a%s+name%s*=%s*"([^"]*)"') do
    anchors[name] = true
  end
  pages[rel] = { html = html, anchors = anchors }
end
if not pages["modules/loom.html"] then
  problem("%s/modules/loom.html was not written", dir)
end

-- The exports of loom.
local loom_page = pages["modules/loom.html"]
local init = assert(read("lua/loom/init.lua"))
for name in init:gmatch("\nM%.([%w_]+)%s*=") do
  if name ~= "core" then
    local found = loom_page and loom_page.anchors[name]
    if not found and pages["modules/loom." .. name .. ".html"] then
      found = true
    end
    for _, page in pairs(pages) do
      if found then break end
      found = page.anchors["loom." .. name]
    end
    if not found then
      problem("loom.%s (lua/loom/init.lua) has no entry in the manual", name)
    end
  end
end

-- Links between the pages.
local function resolve(from, target)
  local base = from:match("^(.*/)") or ""
  local path = base .. target
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." then parts[#parts] = nil
    elseif part ~= "." then parts[#parts + 1] = part end
  end
  return table.concat(parts, "/")
end

for rel, page in pairs(pages) do
  for href in page.html:gmatch('href%s*=%s*"([^"]*)"') do
    if not href:match("^%a[%w+.-]*:") then          -- not http:, mailto:...
      local file, anchor = href:match("^([^#]*)#?(.*)$")
      local target = file == "" and rel or resolve(rel, file)
      local t = pages[target]
      if target:match("%.html$") and not t then
        problem("%s: link to a missing page: %s", rel, href)
      elseif not target:match("%.html$") then
        if not read(dir .. "/" .. target) then
          problem("%s: link to a missing file: %s", rel, href)
        end
      elseif anchor ~= "" and not t.anchors[anchor] then
        problem("%s: link to a missing anchor: %s", rel, href)
      end
    end
  end
end

-- Backquotes that markdown left (code and examples aside).
for rel, page in pairs(pages) do
  local text = page.html:gsub("<pre.->.-</pre>", ""):gsub("<code>.-</code>", "")
  local n = 0
  for line in text:gmatch("[^\n]*") do
    if line:find("`", 1, true) and n < 3 then
      n = n + 1
      problem("%s: a code span markdown did not render: %s", rel,
              (line:gsub("^%s+", ""):gsub("<[^>]*>", "")))
    end
  end
end

table.sort(problems)
for _, p in ipairs(problems) do print(p) end
os.exit(#problems == 0 and 0 or 1)
