#!/bin/sh
# lint.sh: the two rockspecs agree (loom-scm-1.rockspec and the release's
# loom-<version>-1.rockspec, <version> being the one csrc/loom.c reports:
# the same apart from version and source, the release's source a tag
# v<version>), and csrc/ keeps its layering (tools/layers.lua). The
# rockspecs list no files: the Makefile builds and installs (build.type
# "make"), so nothing there can fall out of date.
status=0
version=$(sed -n 's/^ *lua_pushliteral(L, "\([0-9][0-9.]*\)");$/\1/p' csrc/loom.c)
if [ -z "$version" ]; then
  echo "lint: no version found in csrc/loom.c"; status=1
elif [ ! -f "loom-$version-1.rockspec" ]; then
  echo "lint: loom-$version-1.rockspec missing (csrc/loom.c says $version)"
  status=1
else
  for f in loom-*.rockspec; do
    case "$f" in loom-scm-1.rockspec|"loom-$version-1.rockspec") ;;
      *) echo "lint: $f: a rockspec for neither scm-1 nor $version-1"; status=1;;
    esac
  done
  lua5.4 - "$version" <<'LUA' || status=1
local version = ...
local function load(file)
  local t = {}
  assert(loadfile(file, "t", t))()
  return t
end
-- equal(a, b, where): nil if equal, else where they differ
local function equal(a, b, where)
  if type(a) ~= "table" or type(b) ~= "table" then
    if a ~= b then return where end
    return nil
  end
  for k, v in pairs(a) do
    local d = equal(v, b[k], where .. "." .. tostring(k))
    if d then return d end
  end
  for k in pairs(b) do
    if a[k] == nil then return where .. "." .. tostring(k) end
  end
end
local scm = load("loom-scm-1.rockspec")
local rel_file = "loom-" .. version .. "-1.rockspec"
local rel = load(rel_file)
local ok = true
local function fail(msg) print("lint: " .. msg); ok = false end
if scm.version ~= "scm-1" then fail("loom-scm-1.rockspec: version " .. tostring(scm.version)) end
if rel.version ~= version .. "-1" then
  fail(rel_file .. ": version " .. tostring(rel.version) .. ", csrc/loom.c says " .. version)
end
if rel.source.tag ~= "v" .. version then
  fail(rel_file .. ": source.tag should be v" .. version)
end
if scm.build.type ~= "make" then fail("loom-scm-1.rockspec: build.type is not make") end
for _, t in ipairs { scm, rel } do t.version, t.source = nil, nil end
local d = equal(scm, rel, "rockspec")
if d then fail(rel_file .. " and loom-scm-1.rockspec differ at " .. d) end
os.exit(ok and 0 or 1)
LUA
fi
lua5.4 tools/layers.lua --quiet || status=1
[ $status -eq 0 ] && echo "lint: ok"
exit $status
