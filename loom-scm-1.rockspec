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
build = {
  type = "builtin",
  modules = {
    ["loom.core"] = {
      -- Must list the same files as the Makefile (csrc/*/*.c and
      -- csrc/loom.c; make lint checks).
      sources = {
        "csrc/core/args.c",
        "csrc/core/clock.c",
        "csrc/core/context.c",
        "csrc/core/errors.c",
        "csrc/core/group.c",
        "csrc/core/introspect.c",
        "csrc/core/parking.c",
        "csrc/core/sched.c",
        "csrc/core/scope.c",
        "csrc/core/sleep.c",
        "csrc/core/task.c",
        "csrc/core/traceback.c",
        "csrc/core/wait.c",
        "csrc/sync/channel.c",
        "csrc/sync/condition.c",
        "csrc/sync/event.c",
        "csrc/sync/lock.c",
        "csrc/sync/semaphore.c",
        "csrc/sync/sync.c",
        "csrc/io/dns.c",
        "csrc/io/file.c",
        "csrc/io/filestate.c",
        "csrc/io/fs.c",
        "csrc/io/handle.c",
        "csrc/io/listener.c",
        "csrc/io/pipe.c",
        "csrc/io/process.c",
        "csrc/io/rbuf.c",
        "csrc/io/req.c",
        "csrc/io/signal.c",
        "csrc/io/status.c",
        "csrc/io/stream.c",
        "csrc/io/stream_read.c",
        "csrc/io/stream_write.c",
        "csrc/io/tcp.c",
        "csrc/io/tls.c",
        "csrc/io/tls_ctx.c",
        "csrc/io/udp.c",
        "csrc/embed/await.c",
        "csrc/embed/future.c",
        "csrc/embed/luv.c",
        "csrc/embed/post.c",
        "csrc/thread/copy.c",
        "csrc/thread/pool.c",
        "csrc/thread/to_thread.c",
        "csrc/thread/worker.c",
        "csrc/loom.c",
      },
      defines = { "_DEFAULT_SOURCE", "_GNU_SOURCE" },
      incdirs = { "csrc", "$(LIBUV_INCDIR)", "$(OPENSSL_INCDIR)" },
      libdirs = { "$(LIBUV_LIBDIR)", "$(OPENSSL_LIBDIR)" },
      libraries = { "uv", "ssl", "crypto", "pthread", "dl" },
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
    ["loom.introspect"] = "lua/loom/introspect.lua",
    ["loom.thread"] = "lua/loom/thread.lua",
    ["loom.tls"] = "lua/loom/tls.lua",
  },
  install = {
    -- The embedding header; `luarocks show --rock-dir loom` tells where.
    conf = { ["loom.h"] = "csrc/loom.h" },
  },
}
