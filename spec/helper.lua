-- busted helper: make the in-tree build loadable and fail loudly when the
-- native module is missing.
local build = os.getenv("LOOM_BUILD") or "build"
package.path = "./lua/?.lua;./lua/?/init.lua;./?.lua;" .. package.path
package.cpath = "./" .. build .. "/?.so;" .. package.cpath
assert(_VERSION == "Lua 5.4", "loom's specs run under Lua 5.4, not " .. _VERSION)
require "loom"
