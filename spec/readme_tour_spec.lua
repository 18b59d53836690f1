-- The README's ten-minute tour cannot drift: every snippet in it is a
-- whole program, run here in a child process with the in-tree build. A
-- Lua snippet must exit 0 and print every "--> text" line it carries
-- (each a plain substring of its output); the C snippet must compile
-- against csrc/loom.h and build/loom/core.so and run.
local S = require "spec.support"

local build = os.getenv("LOOM_BUILD") or "build"

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

local function tour_snippets()
  local readme = read("README.md")
  local a = assert(readme:find("\n## A ten%-minute tour\n"), "no tour")
  local b = assert(readme:find("\n## ", a + 1), "no end of the tour")
  local tour = readme:sub(a, b)
  local out = {}
  for lang, code in tour:gmatch("\n```(%a+)\n(.-)\n```") do
    out[#out + 1] = { lang = lang, code = code .. "\n" }
  end
  return out
end

local function expected(code)
  local lines = {}
  for l in code:gmatch("[^\n]+") do
    local want = l:match("^%-%-> (.*)$")
    if want then lines[#lines + 1] = want end
  end
  return lines
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

describe("the README's tour", function()
  local snippets = tour_snippets()

  it("has its ten sections' snippets", function()
    assert.is_true(#snippets >= 10, #snippets .. " snippets")
  end)

  local pwd = assert(io.popen("pwd")):read("l")
  for i, sn in ipairs(snippets) do
    if sn.lang == "lua" then
      it(("snippet %d runs and prints what it says"):format(i), function()
        local code, out = S.run_lua(sn.code, 20)
        assert.equal(0, code, out)
        for _, want in ipairs(expected(sn.code)) do
          assert.truthy(out:find(want, 1, true),
                        ("expected %q in:\n%s"):format(want, out))
        end
      end)
    elseif sn.lang == "c" then
      it(("snippet %d (C) compiles against loom.h and runs"):format(i),
        function()
          local dir = os.tmpname()
          os.remove(dir)
          assert(os.execute("mkdir " .. dir))
          write(dir .. "/host.c", sn.code)
          local cmd = ("cc -Wall -Wextra -Werror -Icsrc "
            .. "$(pkg-config --cflags lua5.4 libuv) %s/host.c "
            .. "%s/%s/loom/core.so -Wl,-rpath,%s/%s/loom "
            .. "$(pkg-config --libs lua5.4 libuv) -o %s/host && "
            .. "LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' %s/host")
            :format(dir, pwd, build, pwd, build, dir, dir)
          local status, out = S.run_cmd("sh -c " .. ("%q"):format(cmd), 60)
          os.execute("rm -r " .. dir)
          assert.equal(0, status, out)
          assert.matches("hello from a task on the host loop", out)
        end)
    end
  end
end)
