# loom: build, test, demo, bench, sanitizers.
# `make` builds build/loom/core.so; `make test` and `make demo` first
# install the missing Debian packages (as root; otherwise they print the
# apt-get line to run).

LUA      ?= lua5.4
BUSTED   ?= busted
CC       ?= cc
PKGS     := lua5.4 liblua5.4-dev libuv1-dev lua-busted
BENCH_PKGS := lua-luv lua-cqueues

LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
UV_CFLAGS  := $(shell pkg-config --cflags libuv 2>/dev/null)
UV_LIBS    := $(shell pkg-config --libs libuv 2>/dev/null || echo -luv)

OPT      ?= -O2 -g
WARN     := -std=c99 -Wall -Wextra -Werror -pedantic \
            -Wdeclaration-after-statement -Wmissing-prototypes \
            -Wstrict-prototypes -Wshadow -Wpointer-arith -Wundef \
            -Wwrite-strings -Wredundant-decls -Wnested-externs \
            -Wdisabled-optimization
DEFS     := -D_DEFAULT_SOURCE -D_GNU_SOURCE
CFLAGS_ALL = $(OPT) $(WARN) $(DEFS) -fPIC -fvisibility=hidden \
             $(LUA_CFLAGS) $(UV_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS_ALL = -shared $(EXTRA_LDFLAGS)

SRCS := $(sort $(wildcard csrc/*.c))
HDRS := $(wildcard csrc/*.h)
BUILD ?= build
OBJS := $(patsubst csrc/%.c,$(BUILD)/obj/%.o,$(SRCS))
SO   := $(BUILD)/loom/core.so

LUA_ENV := LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' LUA_CPATH='./$(BUILD)/?.so;;'

.PHONY: all deps bench-deps test demo bench asan valgrind clean install lint

all: $(SO)

$(BUILD)/obj/%.o: csrc/%.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@

$(SO): $(OBJS)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(LDFLAGS_ALL) -o $@ $(OBJS) $(UV_LIBS)

# Install missing Debian packages (root), or say what to run.
deps:
	@sh tools/deps.sh $(PKGS)

bench-deps:
	@sh tools/deps.sh $(PKGS) $(BENCH_PKGS)

test: deps
	@$(MAKE) --no-print-directory all
	@sh tools/test.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@sh tools/demo.sh

bench: bench-deps
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan \
	  OPT='-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined' \
	  EXTRA_LDFLAGS='-fsanitize=address,undefined' all
	@BUILD=build-asan SANITIZE=asan sh tools/test.sh

valgrind: all
	@SANITIZE=valgrind sh tools/test.sh

install: all
	@echo "use 'luarocks make' to install loom"

lint:
	@sh tools/lint.sh

clean:
	rm -rf build build-asan
