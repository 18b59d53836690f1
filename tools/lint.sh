#!/bin/sh
# lint.sh: the static checks of `make lint`, run from the repository root.
# Each check prints "ok - NAME" or "not ok - NAME" followed by what the tool
# said; the last line is "N passed, M failed", and the exit status is 1 if
# any check failed.
#   rockspec  the two rockspecs agree: loom-scm-1.rockspec and the
#             release's loom-<version>-1.rockspec, <version> being the one
#             csrc/loom.c reports, are the same apart from version and
#             source, the release's source a tag v<version>. They list no
#             files: the Makefile builds and installs (build.type "make")
#   layers    csrc/ keeps its layering (tools/layers.lua, doc/DESIGN.md)
#   luacheck  the Lua code, with .luacheckrc
#   gcc       the whole build (core.so, examples/host.c, spec/c) with the
#   clang     Makefile's warnings and -Werror, from scratch, in build-gcc/
#             and build-clang/; every csrc/*.c and csrc/*/*.c must be in it
#   cppcheck  csrc/, spec/c/ and examples/host.c; tools/cppcheck.cfg tells
#             it which of loom's functions never return, and
#             tools/cppcheck.supp lists its false positives
LUA=${LUA:-lua5.4}
JOBS=$(nproc 2>/dev/null || echo 2)
LUA_INC=$(pkg-config --cflags-only-I lua5.4 2>/dev/null ||
          echo -I/usr/include/lua5.4)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
passed=0; failed=0; times=""
start=$(date +%s)

# check NAME COMMAND...: run one check, its output kept for a failure.
check() {
  name=$1; shift
  t0=$(date +%s)
  if "$@" > "$out" 2>&1; then
    echo "ok - $name"
    passed=$((passed + 1))
  else
    echo "not ok - $name"
    sed 's/^/    /' "$out"
    failed=$((failed + 1))
  fi
  times="$times, $name $(( $(date +%s) - t0 ))"
}

rockspec() {
  version=$(sed -n 's/^ *lua_pushliteral(L, "\([0-9][0-9.]*\)");$/\1/p' \
            csrc/loom.c)
  if [ -z "$version" ]; then
    echo "no version found in csrc/loom.c"; return 1
  elif [ ! -f "loom-$version-1.rockspec" ]; then
    echo "loom-$version-1.rockspec missing (csrc/loom.c says $version)"
    return 1
  fi
  status=0
  for f in loom-*.rockspec; do
    case "$f" in loom-scm-1.rockspec|"loom-$version-1.rockspec") ;;
      *) echo "$f: a rockspec for neither scm-1 nor $version-1"; status=1;;
    esac
  done
  "$LUA" - "$version" <<'LUA' || status=1
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
local function fail(msg) print(msg); ok = false end
if scm.version ~= "scm-1" then
  fail("loom-scm-1.rockspec: version " .. tostring(scm.version))
end
if rel.version ~= version .. "-1" then
  fail(rel_file .. ": version " .. tostring(rel.version)
       .. ", csrc/loom.c says " .. version)
end
if rel.source.tag ~= "v" .. version then
  fail(rel_file .. ": source.tag should be v" .. version)
end
if scm.build.type ~= "make" then
  fail("loom-scm-1.rockspec: build.type is not make")
end
for _, t in ipairs { scm, rel } do t.version, t.source = nil, nil end
local d = equal(scm, rel, "rockspec")
if d then fail(rel_file .. " and loom-scm-1.rockspec differ at " .. d) end
os.exit(ok and 0 or 1)
LUA
  return $status
}

# build CC: the build with the Makefile's flags (-Werror), every file
# compiled again (-B) so that no warning hides in an up-to-date object.
build() {
  make --no-print-directory -B -j"$JOBS" CC="$1" BUILD="build-$1" \
    WERROR=-Werror all ctest || return 1
  for f in csrc/*.c csrc/*/*.c; do
    o="build-$1/obj/${f#csrc/}"
    [ -f "${o%.c}.o" ] || { echo "$f is not built (Makefile, SRCS)"; return 1; }
  done
}

# cppcheck does not read the system headers (libuv's confuse it); luaconf.h
# needs LLONG_MAX from <limits.h> to pick lua_Integer, so it is given here.
cppcheck_csrc() {
  cppcheck -q -j"$JOBS" --error-exitcode=1 --std=c99 \
    --enable=warning,performance,portability \
    --library=posix --library=lua --library=openssl \
    --library=tools/cppcheck.cfg \
    --inline-suppr --suppressions-list=tools/cppcheck.supp \
    -D_DEFAULT_SOURCE -D_GNU_SOURCE \
    -DLLONG_MAX=9223372036854775807LL '-DLLONG_MIN=(-LLONG_MAX-1LL)' \
    -DULLONG_MAX=18446744073709551615ULL \
    -Icsrc $LUA_INC \
    csrc spec/c examples/host.c
}

check rockspec rockspec
check layers "$LUA" tools/layers.lua --quiet
check luacheck luacheck -q --no-color --codes lua/ spec/ examples/ bench/ tools/
check gcc build gcc
check clang build clang
check cppcheck cppcheck_csrc
echo "lint: $(( $(date +%s) - start )) s (${times#, })"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
