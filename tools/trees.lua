-- tools/trees.lua: run random task trees (spec/lib/treerun.lua) outside
-- busted: many of them (make stress), or one to replay it.
--   lua5.4 tools/trees.lua [count [first-seed]]   (defaults: 2000, 1)
--   SEED=n lua5.4 tools/trees.lua                 one tree, with its dump
-- Environment: TREES_ESCAPES=0 (no re-raise of a saved Cancelled, no
-- shield switched on),
-- TREES_RUNS=k (model runs per tree, default 4), TREES_SHOW=n (print the
-- first n failing trees in full, default 3), LOOM_BUILD (default build).
-- Prints one summary line; exits 1 if any tree failed.
local build = os.getenv("LOOM_BUILD") or "build"
package.path = "./lua/?.lua;./lua/?/init.lua;./?.lua;" .. package.path
package.cpath = "./" .. build .. "/?.so;" .. package.cpath

local loom = require "loom"
local testing = require "loom.testing"
local treerun = require "spec.lib.treerun"
local treegen = require "spec.lib.treegen"

local api = setmetatable({ run = testing.run }, { __index = loom })
local opts = { loom = api, clean = testing.assert_clean }

local seed = tonumber(os.getenv("SEED") or "")
if seed then
  local ok, report, st = treerun.check(math.tointeger(seed), opts)
  if ok then
    print(treegen.dump(treegen.generate(math.tointeger(seed),
          { escapes = treerun.escapes_default() })))
    print(("tree %d: ok (%d model runs, %d observations depend on the "
           .. "schedule)"):format(seed, st.runs, st.ambiguous))
  else
    print(report)
  end
  os.exit(ok and 0 or 1)
end

local count = math.tointeger(tonumber(arg[1] or "") or 2000)
local first = math.tointeger(tonumber(arg[2] or "") or 1)
local show = tonumber(os.getenv("TREES_SHOW") or "") or 3
local failed, shown, esc, runs, amb, esconly = {}, 0, 0, 0, 0, 0
local t0 = os.clock()
for s = first, first + count - 1 do
  local ok, report, st = treerun.check(s, opts)
  runs = runs + st.runs
  amb = amb + st.ambiguous
  if st.reraised > 0 then esc = esc + 1 end
  if not ok then
    if st.escape_only then esconly = esconly + 1 end
    failed[#failed + 1] = s
    if shown < show then
      shown = shown + 1
      print(report)
      print()
    end
  end
end
local list = {}
for i = 1, math.min(#failed, 40) do list[i] = tostring(failed[i]) end
print(("trees %d..%d: %d passed, %d failed%s; %.1f s CPU, %.2f model runs "
       .. "a tree, %d trees re-raised a saved Cancelled or switched a "
       .. "shield on, %d failed only for that (issue 10 item 2)")
      :format(first, first + count - 1, count - #failed, #failed,
              #failed > 0 and (" (seeds " .. table.concat(list, " ")
              .. (#failed > 40 and " ..." or "") .. ")") or "",
              os.clock() - t0, runs / count, esc, esconly))
os.exit(#failed == 0 and 0 or 1)
