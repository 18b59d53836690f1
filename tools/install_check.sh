#!/bin/sh
# install_check.sh: install loom the ways the README says and use it from
# outside the checkout (make install-check; .ci/run runs it).
#
#   - luarocks --lua-version 5.4 make --tree T (and --local, with HOME in
#     a temporary directory), then, from another directory, a Lua program
#     under `eval "$(luarocks --lua-version 5.4 path --tree T)"`;
#   - examples/host.c compiled against the rock's loom.h
#     ($(luarocks show --rock-dir loom)/include) and run;
#   - the symbols the installed core.so exports: exactly the LOOM_API
#     functions of csrc/loom.h;
#   - make install DESTDIR=... (files, loom.pc, pkg-config), and make
#     uninstall, and make install PREFIX=... with examples/host.c built by
#     `pkg-config --cflags --libs loom` and run;
#   - luarocks pack of loom-<version>-1.rockspec (from a scratch git
#     repository holding the checkout's files, tagged v<version>; see the
#     rockspec's comment), then luarocks install of the packed rock into
#     another tree, require, and luarocks remove.
#
# Each check prints "ok - NAME" or "not ok - NAME" (then its log, as "# "
# lines); the last line is "N passed, M failed"; the exit status is 1 if
# any check failed. Everything happens in a temporary directory, removed
# at the end (KEEP=1 keeps it). Needs lua5.4, liblua5.4-dev, libuv1-dev,
# libssl-dev, luarocks, pkg-config, git and a C compiler (make
# install-check installs the missing ones).
set -eu
cd "$(dirname "$0")/.."
REPO=$(pwd)
CC=${CC:-cc}
LUA=lua5.4
start=$(date +%s)
T=$(mktemp -d "${TMPDIR:-/tmp}/loom-install-check.XXXXXX")
cleanup() {
  if [ "${KEEP:-}" = 1 ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Every luarocks command names the Lua version: Debian's luarocks
# defaults to Lua 5.1.
lr() { luarocks --lua-version 5.4 "$@"; }
# The builds that luarocks runs use every core.
MAKEFLAGS="-j$(nproc 2>/dev/null || echo 2)"
export MAKEFLAGS
unset LUA_PATH LUA_CPATH LUA_PATH_5_4 LUA_CPATH_5_4 LUA_INIT LUA_INIT_5_4 \
      PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR 2>/dev/null || true

VERSION=$(sed -n 's/^ *lua_pushliteral(L, "\([0-9][0-9.]*\)");$/\1/p' csrc/loom.c)
ELSEWHERE=$T/elsewhere     # not the checkout: no ./lua, no ./loom
mkdir -p "$ELSEWHERE"

passed=0; failed=0
# check NAME FUNCTION: run FUNCTION, its output to a log. It runs as a
# background job and is waited for, so that `set -e` holds inside it (in
# an `if` or after `||` the shell would turn it off).
check() {
  log=$T/log.$2
  "$2" >"$log" 2>&1 &
  if wait $!; then
    echo "ok - $1"; passed=$((passed + 1))
  else
    echo "not ok - $1"; failed=$((failed + 1))
    tail -n 40 "$log" | sed 's/^/# /'
  fi
}

# The Lua program run against each installed tree: a group, a sleep, a
# TCP echo over 127.0.0.1, loom._VERSION, and that loom and loom.core
# come from the tree given (arg 2), not from the checkout.
cat > "$T/prog.lua" <<'EOF'
local want_version, tree = ...
local loom = require "loom"
assert(loom._VERSION == "loom " .. want_version, loom._VERSION)
for name, path in pairs { loom = package.path, ["loom.core"] = package.cpath } do
  local file = assert(package.searchpath(name, path))
  assert(file:sub(1, #tree + 1) == tree .. "/", name .. " found at " .. file)
end
local got = loom.run(function()
  local t0 = loom.now()
  local l = loom.tcp.listen("127.0.0.1", 0)
  local line
  loom.with_group(function(g)
    g:spawn(function()
      local s <close> = l:accept()
      while true do
        local x = s:read_line()
        if x == nil then break end
        s:write(x .. "\n")
      end
    end)
    g:spawn(function() loom.sleep(0.05) end)
    local c <close> = loom.tcp.connect("127.0.0.1", l.port)
    c:write("hello, loom\n")
    line = c:read_line()
    c:shutdown()
  end)
  l:close()
  assert(loom.now() - t0 >= 0.04, "the sleep did not wait")
  return line
end)
assert(got == "hello, loom", tostring(got))
print(loom._VERSION .. ": echo ok")
EOF

# run_prog TREE: the program, from elsewhere, with luarocks path for TREE.
run_prog() {
  (cd "$ELSEWHERE" &&
   eval "$(lr path --tree "$1")" &&
   timeout 30 $LUA "$T/prog.lua" "$VERSION" "$1")
}

# symbols SO: what SO exports must be what csrc/loom.h declares LOOM_API.
sed -n 's/^LOOM_API[^(]*[ *]\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' csrc/loom.h |
  sort > "$T/api.txt"
symbols() {
  test -s "$T/api.txt"
  nm -D --defined-only "$1" | awk '{ print $NF }' | sort > "$T/exported.txt"
  echo "exported by $1:"; cat "$T/exported.txt"
  diff "$T/api.txt" "$T/exported.txt"
}

# run_host BINARY [LUA_PATH]: examples/host.c's program, from elsewhere
# (it finds loom's Lua files through LUA_PATH, loom.core is linked in).
run_host() {
  (cd "$ELSEWHERE" && LUA_PATH="$2" timeout 30 "$1") > "$T/host.out" 2>&1 ||
    { cat "$T/host.out"; return 1; }
  cat "$T/host.out"
  grep -q '^host: loom runs on the host loop: yes$' "$T/host.out"
  grep -q '^worker: sum(1..1000) = 500500$' "$T/host.out"
  grep -q '^host: uv_loop_close = 0$' "$T/host.out"
}

# {====================================================================
# LuaRocks from the checkout
# =====================================================================
TREE=$T/tree
rock_make() {
  lr make --tree "$TREE"
  lr list --tree "$TREE" --porcelain | grep -q '^loom	scm-1	installed'
  test -f "$TREE/lib/lua/5.4/loom/core.so"
  test -f "$TREE/share/lua/5.4/loom/init.lua"
  test -f "$(lr show --rock-dir loom --tree "$TREE")/include/loom.h"
}
check "luarocks --lua-version 5.4 make --tree" rock_make

rock_require() { run_prog "$TREE"; }
check "require loom from another directory (luarocks path --tree)" rock_require

rock_symbols() { symbols "$TREE/lib/lua/5.4/loom/core.so"; }
check "rock core.so exports the LOOM_API functions only" rock_symbols

# The way the README says to build a host against the rock.
rock_host() {
  rock=$(lr show --rock-dir loom --tree "$TREE")
  lib=$(lr config deploy_lib_dir --tree "$TREE")/loom
  # shellcheck disable=SC2046
  $CC -Wall -o "$T/host-rock" examples/host.c -I"$rock/include" \
    $(pkg-config --cflags lua5.4 libuv) \
    -L"$lib" -l:core.so -Wl,-rpath,"$lib" $(pkg-config --libs lua5.4 libuv)
  run_host "$T/host-rock" \
    "$TREE/share/lua/5.4/?.lua;$TREE/share/lua/5.4/?/init.lua;;"
}
check "examples/host.c against the rock's loom.h and core.so" rock_host

rock_local() {
  mkdir -p "$T/home"
  export HOME="$T/home"
  lr make --local
  test -f "$T/home/.luarocks/lib/lua/5.4/loom/core.so"
  run_prog "$HOME/.luarocks"
}
check "luarocks --lua-version 5.4 make --local" rock_local

# }====================================================================

# {====================================================================
# make install
# =====================================================================
make_install_destdir() {
  make --no-print-directory install PREFIX=/opt/loom DESTDIR="$T/stage"
  s=$T/stage/opt/loom
  for f in lib/lua/5.4/loom/core.so share/lua/5.4/loom/init.lua \
           share/lua/5.4/loom/tcp.lua include/loom.h lib/pkgconfig/loom.pc; do
    test -f "$s/$f" || { echo "missing: $s/$f"; return 1; }
  done
  cmp csrc/loom.h "$s/include/loom.h"
  symbols "$s/lib/lua/5.4/loom/core.so"
  export PKG_CONFIG_PATH="$s/lib/pkgconfig"
  test "$(pkg-config --modversion loom)" = "$VERSION"
  # DESTDIR is not recorded in loom.pc.
  test "$(pkg-config --variable=prefix loom)" = /opt/loom
  test "$(pkg-config --variable=cmoddir loom)" = /opt/loom/lib/lua/5.4
  flags=$(pkg-config --cflags --libs loom)
  echo "pkg-config --cflags --libs loom: $flags"
  for want in -I/opt/loom/include -I/usr/include/lua5.4 \
              -L/opt/loom/lib/lua/5.4/loom -l:core.so \
              -Wl,-rpath,/opt/loom/lib/lua/5.4/loom -llua5.4 -luv; do
    case " $flags " in *" $want "*) ;; *) echo "missing: $want"; return 1;; esac
  done
  # Under a sysroot, the staged tree.
  PKG_CONFIG_SYSROOT_DIR=$T/stage pkg-config --cflags loom |
    grep -q -- "-I$s/include"
}
check "make install DESTDIR=... PREFIX=...; pkg-config loom" make_install_destdir

make_uninstall() {
  make --no-print-directory uninstall PREFIX=/opt/loom DESTDIR="$T/stage"
  left=$(find "$T/stage" -type f)
  test -z "$left" || { echo "left behind: $left"; return 1; }
}
check "make uninstall DESTDIR=... PREFIX=..." make_uninstall

make_install_host() {
  p=$T/prefix
  make --no-print-directory install PREFIX="$p"
  export PKG_CONFIG_PATH="$p/lib/pkgconfig"
  # shellcheck disable=SC2046
  $CC -Wall -o "$T/host-pc" examples/host.c $(pkg-config --cflags --libs loom)
  luadir=$(pkg-config --variable=luadir loom)
  run_host "$T/host-pc" "$luadir/?.lua;$luadir/?/init.lua;;"
}
check "examples/host.c built with pkg-config --cflags --libs loom" make_install_host

# }====================================================================

# {====================================================================
# The versioned rockspec: luarocks pack, then luarocks install the rock
# =====================================================================
SPEC=loom-$VERSION-1.rockspec
rock_pack() {
  test -f "$SPEC"
  # The scratch repository: the checkout's files (tracked, and new ones
  # that are not ignored), as they are in the working tree.
  g=$T/git/loom
  mkdir -p "$g"
  if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$REPO" ls-files -co --exclude-standard |
      while IFS= read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done |
      tar -cf - -T - | tar -xf - -C "$g"
  else
    tar -cf - --exclude='./build*' --exclude=./.git . | tar -xf - -C "$g"
  fi
  git -C "$g" init -q
  git -C "$g" add -A
  git -C "$g" -c user.name=install_check -c user.email=install_check@invalid \
    commit -q -m "loom $VERSION (install_check snapshot)"
  git -C "$g" tag "v$VERSION"
  mkdir -p "$T/pack"
  sed 's|^\( *url = \)"[^"]*",$|\1"git+file://'"$g"'",|' "$SPEC" > "$T/pack/$SPEC"
  grep -q "git+file://$g" "$T/pack/$SPEC"
  (cd "$T/pack" && lr pack "$SPEC")
  test -f "$T/pack/loom-$VERSION-1.src.rock"
}
check "luarocks pack $SPEC" rock_pack

TREE2=$T/tree2
rock_install() {
  (cd "$ELSEWHERE" && lr install --tree "$TREE2" "$T/pack/loom-$VERSION-1.src.rock")
  lr list --tree "$TREE2" --porcelain | grep -q "^loom	$VERSION-1	installed"
  test -f "$(lr show --rock-dir loom --tree "$TREE2")/include/loom.h"
  symbols "$TREE2/lib/lua/5.4/loom/core.so"
  run_prog "$TREE2"
}
check "luarocks install of the packed rock, then require" rock_install

rock_remove() {
  lr remove --tree "$TREE2" loom
  test ! -e "$TREE2/lib/lua/5.4/loom/core.so"
  test ! -e "$TREE2/share/lua/5.4/loom/init.lua"
  test ! -e "$TREE2/lib/luarocks/rocks-5.4/loom"
}
check "luarocks remove loom" rock_remove

# }====================================================================

echo "# install_check.sh: $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
