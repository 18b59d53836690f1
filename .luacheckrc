-- luacheck configuration: `luacheck lua/ spec/ examples/ bench/ tools/`
-- (make lint, tools/lint.sh).
std = "lua54"

-- The specs and their helpers run under busted.
files["spec"] = { std = "+busted" }

-- These specs set globals on purpose: in the loop's state, to show that a
-- worker thread does not see them, and in a worker's own state.
files["spec/thread_spec.lua"] = { globals = { "SPEC_GLOBAL", "WORKER_GLOBAL" } }

-- The fuzz script is a Lua program kept in one long string.
files["spec/regress/bad_arguments_spec.lua"] = {
  max_string_line_length = false,
}

-- bench/loom/w4tcp.lua runs w4tls.lua over plain TCP by setting this global.
files["bench/loom/w4tcp.lua"] = { globals = { "W4T_PLAIN" } }
files["bench/loom/w4tls.lua"] = { read_globals = { "W4T_PLAIN" } }
-- bench/loom/w4rp1.lua runs w4rp.lua with one server process the same way.
files["bench/loom/w4rp1.lua"] = { globals = { "W4R_P" } }
files["bench/loom/w4rp.lua"] = { read_globals = { "W4R_P" } }
