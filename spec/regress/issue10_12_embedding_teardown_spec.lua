-- Regression (issue 10, item 12): after lua_close, a host's uv_loop_close
-- must succeed after one uv_run(UV_RUN_NOWAIT). The C tests check it for
-- every kind of handle and request (teardown_nowait_*); this spec checks
-- a host that loads loom only through `require`: Lua unloads such a
-- library at lua_close, and the close callbacks that the host's next
-- uv_run delivers must still find loom's code (they crashed).
local S = require "spec.support"

describe("a host that loads loom through require", function()
  it("closes its loop after lua_close and one uv_run", function()
    local build = os.getenv("LOOM_BUILD") or "build"
    local exe = build .. "/regress/require_host"
    os.execute("mkdir -p " .. build .. "/regress")
    local cc = os.getenv("CC") or "cc"
    local cmd = ("%s -o %s spec/regress/issue10_12_require_host.c "
                 .. "$(pkg-config --cflags lua5.4 libuv) "
                 .. "$(pkg-config --libs lua5.4 libuv) -ldl 2>&1")
                :format(cc, exe)
    local p = io.popen(cmd)
    local out = p:read("a")
    assert.is_true(p:close(), "cannot build the host: " .. out)
    local code, got = S.run_cmd(exe .. " .")
    assert.equal(0, code, got)
    assert.truthy(got:find("uv_loop_close: 0", 1, true), got)
  end)
end)
