rockspec_format = "3.0"
package = "loom"
version = "0.1.0-1"
-- The release 0.1.0 is the tag v0.1.0 of loom's repository. Apart from
-- the version and this source table, the file is loom-scm-1.rockspec
-- (make lint checks). The repository has no public address yet
-- (example.invalid, as in loom-scm-1.rockspec), so CI cannot fetch this
-- url: tools/install_check.sh commits the checkout's files to a scratch
-- repository in a temporary directory, tags that commit v0.1.0 there
-- (the checkout's own tags are left alone), and packs a temporary copy
-- of this file whose url is rewritten to git+file://<scratch>/loom; it
-- then installs the packed rock into a temporary tree.
source = {
  url = "git+https://example.invalid/loom.git",
  tag = "v0.1.0",
}
description = {
  summary = "Structured concurrency for Lua 5.4 on libuv",
  detailed = [[
loom gives Lua coroutines structured concurrency: task groups where the
parent waits for its children, cancel scopes with deadlines and shields,
cancellation that reaches blocked code and lets cleanup run, errors that
are never lost (ErrorGroup with tracebacks), async I/O (TCP, UDP, pipes,
DNS, files, processes, signals, TLS over OpenSSL) and a C API to embed
it.
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  LIBUV = { header = "uv.h", library = "uv" },
  -- OpenSSL 3 (Debian: libssl-dev) for loom.tls, as luaossl and luasec
  -- declare it.
  OPENSSL = { header = "openssl/ssl.h", library = "ssl" },
}
-- The one Makefile builds and installs loom, for LuaRocks as for `make`:
-- the same flags (-fvisibility=hidden: only the LOOM_API functions of
-- csrc/loom.h are exported) and the same files. LuaRocks' own compiler
-- flags (CFLAGS, LIBFLAG) and the directories it found replace
-- pkg-config's; the objects go to build/luarocks/, apart from a
-- developer's build/. loom.h goes to the rock's include/ directory:
--   cc -I"$(luarocks --lua-version 5.4 show --rock-dir loom)/include" ...
-- (README, "Install" and "Embedding loom").
build = {
  type = "make",
  build_target = "module",
  install_target = "install-rock",
  -- Passed to both steps (luarocks adds CC).
  variables = {
    BUILD = "build/luarocks",
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    WERROR = "",
    LUA_INCDIR = "$(LUA_INCDIR)",
    LIBUV_INCDIR = "$(LIBUV_INCDIR)",
    LIBUV_LIBDIR = "$(LIBUV_LIBDIR)",
    OPENSSL_INCDIR = "$(OPENSSL_INCDIR)",
    OPENSSL_LIBDIR = "$(OPENSSL_LIBDIR)",
  },
  install_variables = {
    INST_PREFIX = "$(PREFIX)",
    INST_LUADIR = "$(LUADIR)",
    INST_LIBDIR = "$(LIBDIR)",
  },
}
