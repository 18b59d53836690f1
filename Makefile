# loom: build, test, demo, bench, sanitizers.
# `make` builds build/loom/core.so; `make test`, `make demo` and `make
# lint` first install the missing Debian packages (as root; otherwise they
# print the apt-get line to run).

LUA      ?= lua5.4
BUSTED   ?= busted
CC       ?= cc
PKGS     := lua5.4 liblua5.4-dev libuv1-dev lua-busted lua-luv \
            libssl-dev openssl python3
BENCH_PKGS := lua-luv lua-cqueues gnuplot-nox valgrind
# make install-check: LuaRocks, pkg-config, git (for the rock's source),
# and a C compiler for examples/host.c.
INSTALL_PKGS := lua5.4 liblua5.4-dev libuv1-dev libssl-dev luarocks \
                pkg-config git gcc make
# LDoc (run by lua-any on lua5.1) and the markdown module it formats with.
DOC_PKGS := lua-ldoc lua-markdown lua5.4
# make lint: the two compilers, luacheck, cppcheck.
LINT_PKGS  := gcc clang lua-check cppcheck

# The version (csrc/loom.c is where it is written; loom-<version>-1.rockspec
# and loom.pc follow it, make lint checks the rockspec).
VERSION := $(shell sed -n 's/^ *lua_pushliteral(L, "\([0-9][0-9.]*\)");$$/\1/p' csrc/loom.c)

# Where Lua, libuv and OpenSSL are: pkg-config by default. LuaRocks (the
# rockspec's build.type = "make") passes the directories it found instead:
# LUA_INCDIR, LIBUV_INCDIR/LIBUV_LIBDIR, OPENSSL_INCDIR/OPENSSL_LIBDIR.
ifdef LUA_INCDIR
LUA_CFLAGS := -I$(LUA_INCDIR)
else
LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
endif
LUA_LIBS   := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
# A library directory given by LuaRocks gets an rpath (as LuaRocks' own
# builtin builds do), unless the dynamic linker searches it anyway.
MULTIARCH  := $(shell $(CC) -print-multiarch 2>/dev/null)
SYSLIBDIRS := /lib /lib64 /usr/lib /usr/lib64 \
              $(if $(MULTIARCH),/lib/$(MULTIARCH) /usr/lib/$(MULTIARCH))
libdir_flags = -L$(1) $(if $(filter-out $(SYSLIBDIRS),$(1)),-Wl$(,)-rpath$(,)$(1))
, := ,
ifdef LIBUV_INCDIR
UV_CFLAGS  := -I$(LIBUV_INCDIR)
else
UV_CFLAGS  := $(shell pkg-config --cflags libuv 2>/dev/null)
endif
ifdef LIBUV_LIBDIR
UV_LIBS    := $(call libdir_flags,$(LIBUV_LIBDIR)) -luv
else
UV_LIBS    := $(shell pkg-config --libs libuv 2>/dev/null || echo -luv)
endif
# OpenSSL 3 (Debian: libssl-dev) for loom.tls.
ifdef OPENSSL_INCDIR
SSL_CFLAGS := -I$(OPENSSL_INCDIR)
else
SSL_CFLAGS := $(shell pkg-config --cflags openssl 2>/dev/null)
endif
ifdef OPENSSL_LIBDIR
SSL_LIBS   := $(call libdir_flags,$(OPENSSL_LIBDIR)) -lssl -lcrypto
else
SSL_LIBS   := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
endif

# OPT: optimisation and debugging flags. A CFLAGS given on the command line
# (LuaRocks passes its own, "-O2 -fPIC" on Debian) replaces OPT; the
# warnings, -fPIC and -fvisibility=hidden are always added, so every
# build exports the same symbols (the LOOM_API functions of csrc/loom.h).
# CFLAGS in the environment is ignored, as before.
OPT      ?= -O2 -g
ifeq ($(origin CFLAGS),command line)
OPT      := $(CFLAGS)
endif
# Warnings are errors for developers; the rockspec passes WERROR= so that
# a newer compiler's new warning does not stop an install.
WERROR   ?= -Werror
# How to link a shared object (LuaRocks passes LIBFLAG).
LIBFLAG  ?= -shared
WARN     := -std=c99 -Wall -Wextra $(WERROR) -pedantic \
            -Wdeclaration-after-statement -Wmissing-prototypes \
            -Wstrict-prototypes -Wshadow -Wpointer-arith -Wundef \
            -Wwrite-strings -Wredundant-decls -Wnested-externs \
            -Wdisabled-optimization
DEFS     := -D_DEFAULT_SOURCE -D_GNU_SOURCE
CFLAGS_ALL = $(OPT) $(WARN) $(DEFS) -fPIC -fvisibility=hidden \
             $(LUA_CFLAGS) $(UV_CFLAGS) $(SSL_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS_ALL = $(LIBFLAG) $(EXTRA_LDFLAGS)

# The layers of csrc/ (doc/DESIGN.md): the engine, then the layers built
# on it, then the module opener.
SRCS := $(sort $(wildcard csrc/core/*.c)) $(sort $(wildcard csrc/sync/*.c)) \
        $(sort $(wildcard csrc/io/*.c)) $(sort $(wildcard csrc/embed/*.c)) \
        $(sort $(wildcard csrc/thread/*.c)) csrc/loom.c
HDRS := $(wildcard csrc/*.h csrc/*/*.h)
BUILD ?= build
OBJS := $(patsubst csrc/%.c,$(BUILD)/obj/%.o,$(SRCS))
SO   := $(BUILD)/loom/core.so

LUA_ENV := LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' LUA_CPATH='./$(BUILD)/?.so;;'

# Embedding: the example host and the C tests link the core library
# (found next to them through the rpath) like any host program would.
HOST       := $(BUILD)/examples/host
CTEST      := $(BUILD)/ctest/run
CTEST_SRCS := $(sort $(wildcard spec/c/*.c))
EMBED_CFLAGS = $(OPT) $(WARN) $(DEFS) -Icsrc $(LUA_CFLAGS) $(UV_CFLAGS) \
               $(EXTRA_CFLAGS)
EMBED_LIBS  = -L$(BUILD)/loom -l:core.so -Wl,-rpath,'$$ORIGIN/../loom' \
              $(LUA_LIBS) $(UV_LIBS) -lpthread -ldl -lm $(EXTRA_LDFLAGS)

.PHONY: all module deps packages bench-packages lint-packages test demo \
        bench asan tsan valgrind clean install install-rock uninstall \
        install-check lint ctest host doc

all: $(SO) $(HOST)

# The native module alone (what the rockspec builds).
module: $(SO)

$(BUILD)/obj/%.o: csrc/%.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@

$(SO): $(OBJS)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(LDFLAGS_ALL) -o $@ $(OBJS) $(UV_LIBS) $(SSL_LIBS) -lpthread -ldl

host: $(HOST)

$(HOST): examples/host.c csrc/loom.h $(SO)
	@mkdir -p $(dir $@)
	@echo "CC $@"
	@$(CC) $(EMBED_CFLAGS) -o $@ examples/host.c $(EMBED_LIBS)

# The C tests of the embedding API: $(CTEST) runs them all and prints
# "N passed, M failed" (tools/test.sh runs it when it exists).
ctest: $(CTEST)

$(CTEST): $(CTEST_SRCS) spec/c/ctest.h csrc/loom.h $(SO)
	@mkdir -p $(dir $@)
	@echo "CC $@"
	@$(CC) $(EMBED_CFLAGS) -o $@ $(CTEST_SRCS) $(EMBED_LIBS)

# Install missing Debian packages (root), or say what to run.
packages:
	@sh tools/packages.sh $(PKGS)

bench-packages:
	@sh tools/packages.sh $(PKGS) $(BENCH_PKGS)

lint-packages:
	@sh tools/packages.sh $(PKGS) $(LINT_PKGS)

# The dependency graph of csrc/; fails on a cycle or an upward dependency
# (doc/DESIGN.md, "Layers").
deps:
	@$(LUA) tools/layers.lua

test: packages
	@$(LUA) tools/layers.lua --quiet
	@$(MAKE) --no-print-directory all ctest
	@sh tools/test.sh

demo: packages
	@$(MAKE) --no-print-directory all
	@sh tools/demo.sh
	@echo "==> $(HOST) (examples/host.c)"
	@$(HOST)

# The workload tables, then the scaling run (N = 10^4, 10^5, 10^6) and its
# plot, build/bench/scaling.png; BENCHMARKS.md says how to read them.
bench: bench-packages
	@$(MAKE) --no-print-directory all
	@mkdir -p build/bench
	@{ sh bench/run.sh && BENCH_SCALE=1 sh bench/run.sh; echo $$? \
	  >build/bench/last-run.rc; } 2>&1 | tee build/bench/last-run.txt
	@exit "$$(cat build/bench/last-run.rc)"

# make stress: 10^5 random task trees (spec/lib/treegen.lua) and the soak
# test (spec/stress/soak.lua); see README, "Reliability tests".
.PHONY: stress torture
stress: all
	@sh tools/stress.sh

# make torture: the whole suite with a full garbage collection after every
# resume of a task (LOOM_GC_TORTURE=1), which finds objects in flight that
# nothing anchors; one process per spec file (tools/torture.sh).
torture: packages
	@$(MAKE) --no-print-directory all ctest
	@sh tools/torture.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan \
	  OPT='-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined' \
	  EXTRA_LDFLAGS='-fsanitize=address,undefined' all ctest
	@BUILD=build-asan SANITIZE=asan sh tools/test.sh

# ThreadSanitizer on the specs and C tests of the worker threads
# (loom.to_thread) and of futures posted from threads; TSAN_SPECS=... and
# TSAN_CTESTS=... run others.
TSAN_SPECS ?= spec/thread_spec.lua spec/thread_cancel_spec.lua \
              spec/thread_teardown_spec.lua spec/reuseport_spec.lua
TSAN_CTESTS ?= $(shell sed -n 's/^ *X(\(\(thread\|future\)_[a-z_]*\)).*/\1/p' \
                 spec/c/ctest.h)
tsan:
	@$(MAKE) --no-print-directory BUILD=build-tsan \
	  OPT='-O1 -g -fsanitize=thread -fno-omit-frame-pointer' \
	  EXTRA_LDFLAGS='-fsanitize=thread' all ctest
	@BUILD=build-tsan SANITIZE=tsan BUSTED_ARGS='$(TSAN_SPECS)' \
	  CTEST_ARGS='$(TSAN_CTESTS)' sh tools/test.sh

valgrind: all ctest
	@sh tools/packages.sh valgrind
	@SANITIZE=valgrind sh tools/test.sh

# make install [PREFIX=/usr/local] [DESTDIR=...]: the Lua modules, the
# native module, the embedding header and loom.pc, the pkg-config file
# (`pkg-config --cflags --libs loom`: README, "Embedding loom"). Each
# directory can be set alone: LUADIR, CMODDIR, INCDIR, PCDIR.
PREFIX  ?= /usr/local
LUADIR  ?= $(PREFIX)/share/lua/5.4
CMODDIR ?= $(PREFIX)/lib/lua/5.4
INCDIR  ?= $(PREFIX)/include
PCDIR   ?= $(PREFIX)/lib/pkgconfig
PC      := $(BUILD)/loom.pc

# loom.pc from loom.pc.in. Directories under PREFIX are written relative
# to ${prefix}, so that pkg-config --define-prefix and
# PKG_CONFIG_SYSROOT_DIR can move the tree. lua5.4 and libuv are
# "Requires" (loom.h includes lua.h and uv.h) when pkg-config knows them,
# otherwise their flags are written out.
pc_rel = $(patsubst $(PREFIX)/%,$${prefix}/%,$(patsubst $(PREFIX),$${prefix},$(1)))
PC_REQUIRES = $(strip $(shell pkg-config --exists lua5.4 2>/dev/null && echo lua5.4) \
                      $(shell pkg-config --exists libuv 2>/dev/null && echo libuv))
PC_CFLAGS = $(if $(filter lua5.4,$(PC_REQUIRES)),,$(LUA_CFLAGS)) \
             $(if $(filter libuv,$(PC_REQUIRES)),,$(UV_CFLAGS))
PC_LIBS   = $(if $(filter lua5.4,$(PC_REQUIRES)),,$(LUA_LIBS)) \
             $(if $(filter libuv,$(PC_REQUIRES)),,$(UV_LIBS))

# gen_pc: write $(PC) for the current PREFIX and directories.
define gen_pc
	@mkdir -p $(dir $(PC))
	@echo "GEN $(PC)"
	@sed -e 's|@PREFIX@|$(PREFIX)|' \
	     -e 's|@INCDIR@|$(call pc_rel,$(INCDIR))|' \
	     -e 's|@CMODDIR@|$(call pc_rel,$(CMODDIR))|' \
	     -e 's|@LUADIR@|$(call pc_rel,$(LUADIR))|' \
	     -e 's|@VERSION@|$(VERSION)|' \
	     -e 's|@REQUIRES@|$(PC_REQUIRES)|' \
	     -e 's|@CFLAGS@|$(strip $(PC_CFLAGS))|' \
	     -e 's|@LIBS@|$(strip $(PC_LIBS))|' -e 's| *$$||' loom.pc.in > $(PC)
endef

# install_files LUADIR,CMODDIR,INCDIR: the files both installs copy.
define install_files
	install -d $(1)/loom $(2)/loom $(3)
	install -m 644 lua/loom/*.lua $(1)/loom/
	install -m 755 $(SO) $(2)/loom/core.so
	install -m 644 csrc/loom.h $(3)/loom.h
endef

# The pc file records PREFIX, so it is made anew for each install.
install: all
	$(gen_pc)
	$(call install_files,$(DESTDIR)$(LUADIR),$(DESTDIR)$(CMODDIR),$(DESTDIR)$(INCDIR))
	install -d $(DESTDIR)$(PCDIR)
	install -m 644 $(PC) $(DESTDIR)$(PCDIR)/loom.pc

uninstall:
	rm -f $(addprefix $(DESTDIR)$(LUADIR)/loom/,$(notdir $(wildcard lua/loom/*.lua)))
	rm -f $(DESTDIR)$(CMODDIR)/loom/core.so $(DESTDIR)$(INCDIR)/loom.h \
	  $(DESTDIR)$(PCDIR)/loom.pc
	-rmdir $(DESTDIR)$(LUADIR)/loom $(DESTDIR)$(CMODDIR)/loom 2>/dev/null

# The rockspec's install step (luarocks passes INST_LUADIR, INST_LIBDIR and
# INST_PREFIX, the rock's directory): the modules go where LuaRocks
# deploys them from, loom.h to $(luarocks show --rock-dir loom)/include.
# No loom.pc: a rock tree can be moved, and LuaRocks moves the module out
# of the rock's directory when it deploys it.
install-rock: module
	@test -n "$(INST_LUADIR)" -a -n "$(INST_LIBDIR)" -a -n "$(INST_PREFIX)" || \
	  { echo "install-rock: set INST_LUADIR, INST_LIBDIR, INST_PREFIX (luarocks does)"; exit 1; }
	$(call install_files,$(INST_LUADIR),$(INST_LIBDIR),$(INST_PREFIX)/include)

# make install-check: install with LuaRocks and with make install into
# temporary trees and use the result from outside the checkout
# (tools/install_check.sh; prints "N passed, M failed").
install-check:
	@sh tools/packages.sh $(INSTALL_PKGS)
	@sh tools/install_check.sh

# The static checks (tools/lint.sh): the two rockspecs agree, the layers
# of csrc/, luacheck, the build with gcc and with clang (-Werror, in
# build-gcc/ and build-clang/), cppcheck; "N passed, M failed" at the end.
lint: lint-packages
	@sh tools/lint.sh

# make doc: the reference manual, build/doc/index.html, made by LDoc from
# the doc comments of lua/loom/*.lua (config.ld); a warning of ldoc fails
# it. Prints "ok - doc" or "not ok - doc" and the warnings, then "N passed,
# M failed" (tools/doc.sh).
doc:
	@sh tools/packages.sh $(DOC_PKGS)
	@sh tools/doc.sh

clean:
	rm -rf build build-asan build-tsan build-gcc build-clang
