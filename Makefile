# loom: build, test, demo, bench, sanitizers.
# `make` builds build/loom/core.so; `make test` and `make demo` first
# install the missing Debian packages (as root; otherwise they print the
# apt-get line to run).

LUA      ?= lua5.4
BUSTED   ?= busted
CC       ?= cc
PKGS     := lua5.4 liblua5.4-dev libuv1-dev lua-busted lua-luv \
            libssl-dev openssl python3
BENCH_PKGS := lua-luv lua-cqueues gnuplot-nox valgrind
# LDoc (run by lua-any on lua5.1) and the markdown module it formats with.
DOC_PKGS := lua-ldoc lua-markdown lua5.4

LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUA_LIBS   := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
UV_CFLAGS  := $(shell pkg-config --cflags libuv 2>/dev/null)
UV_LIBS    := $(shell pkg-config --libs libuv 2>/dev/null || echo -luv)
# OpenSSL 3 (Debian: libssl-dev) for loom.tls.
SSL_CFLAGS := $(shell pkg-config --cflags openssl 2>/dev/null)
SSL_LIBS   := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)

OPT      ?= -O2 -g
WARN     := -std=c99 -Wall -Wextra -Werror -pedantic \
            -Wdeclaration-after-statement -Wmissing-prototypes \
            -Wstrict-prototypes -Wshadow -Wpointer-arith -Wundef \
            -Wwrite-strings -Wredundant-decls -Wnested-externs \
            -Wdisabled-optimization
DEFS     := -D_DEFAULT_SOURCE -D_GNU_SOURCE
CFLAGS_ALL = $(OPT) $(WARN) $(DEFS) -fPIC -fvisibility=hidden \
             $(LUA_CFLAGS) $(UV_CFLAGS) $(SSL_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS_ALL = -shared $(EXTRA_LDFLAGS)

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

.PHONY: all deps packages bench-packages test demo bench asan tsan valgrind \
        clean install lint ctest host doc

all: $(SO) $(HOST)

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
	@sh bench/run.sh
	@BENCH_SCALE=1 sh bench/run.sh

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
# native module and the embedding header (luarocks make does the same for
# a rock tree).
PREFIX  ?= /usr/local
LUADIR  ?= $(PREFIX)/share/lua/5.4
CMODDIR ?= $(PREFIX)/lib/lua/5.4
INCDIR  ?= $(PREFIX)/include

install: all
	install -d $(DESTDIR)$(LUADIR)/loom $(DESTDIR)$(CMODDIR)/loom \
	  $(DESTDIR)$(INCDIR)
	install -m 644 lua/loom/*.lua $(DESTDIR)$(LUADIR)/loom/
	install -m 755 $(SO) $(DESTDIR)$(CMODDIR)/loom/core.so
	install -m 644 csrc/loom.h $(DESTDIR)$(INCDIR)/loom.h

lint:
	@sh tools/lint.sh

# make doc: the reference manual, build/doc/index.html, made by LDoc from
# the doc comments of lua/loom/*.lua (config.ld); a warning of ldoc fails
# it. Prints "ok - doc" or "not ok - doc" and the warnings, then "N passed,
# M failed" (tools/doc.sh).
doc:
	@sh tools/packages.sh $(DOC_PKGS)
	@sh tools/doc.sh

clean:
	rm -rf build build-asan build-tsan
