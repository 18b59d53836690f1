rockspec_format = "3.0"
package = "loom"
version = "scm-1"
source = {
  url = "git+https://example.invalid/loom.git",
}
description = {
  summary = "Structured concurrency for Lua 5.4 on libuv",
  detailed = [[
loom gives Lua coroutines structured concurrency: task groups where the
parent waits for its children, cancel scopes with deadlines and shields,
cancellation that reaches blocked code and lets cleanup run, errors that
are never lost (ErrorGroup with tracebacks), async I/O (TCP, UDP, pipes,
DNS, files, processes, signals) and a C API to embed it.
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  LIBUV = { header = "uv.h", library = "uv" },
}
build = {
  type = "builtin",
  modules = {
    ["loom.core"] = {
      -- Must list the same files as the Makefile's csrc/*.c (make lint).
      sources = {
        "csrc/args.c",
        "csrc/channel.c",
        "csrc/clock.c",
        "csrc/condition.c",
        "csrc/context.c",
        "csrc/core.c",
        "csrc/dns.c",
        "csrc/errors.c",
        "csrc/event.c",
        "csrc/file.c",
        "csrc/fs.c",
        "csrc/future.c",
        "csrc/group.c",
        "csrc/handle.c",
        "csrc/io.c",
        "csrc/listener.c",
        "csrc/lock.c",
        "csrc/luv.c",
        "csrc/parking.c",
        "csrc/pipe.c",
        "csrc/process.c",
        "csrc/req.c",
        "csrc/sched.c",
        "csrc/scope.c",
        "csrc/semaphore.c",
        "csrc/signal.c",
        "csrc/status.c",
        "csrc/stream.c",
        "csrc/sync.c",
        "csrc/task.c",
        "csrc/tcp.c",
        "csrc/traceback.c",
        "csrc/udp.c",
      },
      defines = { "_DEFAULT_SOURCE", "_GNU_SOURCE" },
      incdirs = { "csrc", "$(LIBUV_INCDIR)" },
      libdirs = { "$(LIBUV_LIBDIR)" },
      libraries = { "uv", "dl" },
    },
    ["loom"] = "lua/loom/init.lua",
    ["loom.errors"] = "lua/loom/errors.lua",
    ["loom._util"] = "lua/loom/_util.lua",
    ["loom.group"] = "lua/loom/group.lua",
    ["loom.scope"] = "lua/loom/scope.lua",
    ["loom.testing"] = "lua/loom/testing.lua",
    ["loom.event"] = "lua/loom/event.lua",
    ["loom.lock"] = "lua/loom/lock.lua",
    ["loom.semaphore"] = "lua/loom/semaphore.lua",
    ["loom.condition"] = "lua/loom/condition.lua",
    ["loom.channel"] = "lua/loom/channel.lua",
    ["loom.bridge"] = "lua/loom/bridge.lua",
    ["loom.stream"] = "lua/loom/stream.lua",
    ["loom.tcp"] = "lua/loom/tcp.lua",
    ["loom.pipe"] = "lua/loom/pipe.lua",
    ["loom.udp"] = "lua/loom/udp.lua",
    ["loom.dns"] = "lua/loom/dns.lua",
    ["loom.fs"] = "lua/loom/fs.lua",
    ["loom.process"] = "lua/loom/process.lua",
    ["loom.signal"] = "lua/loom/signal.lua",
  },
  install = {
    -- The embedding header; `luarocks show --rock-dir loom` tells where.
    conf = { ["loom.h"] = "csrc/loom.h" },
  },
}
