--- benchlib: the little every benchmark program shares.
-- Size from argv[1] or BENCH_N, a monotonic wall clock, RSS from
-- /proc/self/status, and the one machine-readable result line:
--   <workload> <impl> key=value ...
-- A program that cannot run (a missing module, a failed check) prints its
-- reason to stderr and exits non-zero; run.sh then shows "n/a".
local M = {}

--- The workload size: argv[1], else BENCH_N, else 'default'.
function M.n(default)
  return math.tointeger(tonumber(arg and arg[1] or nil)) or
         math.tointeger(tonumber(os.getenv("BENCH_N") or nil)) or default
end

--- An integer setting from the environment, or 'default'.
function M.env(name, default)
  return math.tointeger(tonumber(os.getenv(name) or nil)) or default
end

--- A monotonic clock in seconds: loom.core.now, else luv's hrtime, else
-- os.clock (CPU time; only as a last resort).
function M.clock()
  local ok, core = pcall(require, "loom.core")
  if ok and type(core) == "table" and core.now then return core.now end
  local okuv, uv = pcall(require, "luv")
  if okuv then
    local hrtime = uv.hrtime
    return function() return hrtime() / 1e9 end
  end
  return os.clock
end

--- A field of /proc/self/status in kB (VmRSS, VmHWM, ...).
function M.status_kb(field)
  local f = io.open("/proc/self/status", "r")
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  return tonumber(s:match(field .. ":%s*(%d+)")) or 0
end

--- Current resident set, in bytes.
function M.rss() return M.status_kb("VmRSS") * 1024 end

--- Peak resident set so far, in bytes.
function M.peak_rss() return M.status_kb("VmHWM") * 1024 end

--- A full collection, twice (finalisers, then what they freed).
function M.collect()
  collectgarbage("collect")
  collectgarbage("collect")
end

--- The integer delay of W2's (bench/README.md) for task i, in ms (0..100).
function M.w2_delay(i)
  return (i * 2654435761) % 4294967296 % 101
end

local function fmt(v)
  if math.type(v) == "float" then return string.format("%.1f", v) end
  return tostring(v)
end

--- Print the result line: M.report("W1", "loom", {"ms", 12.3, "n", 1000}).
function M.report(workload, impl, kv)
  local parts = { workload, impl }
  for i = 1, #kv, 2 do
    parts[#parts + 1] = kv[i] .. "=" .. fmt(kv[i + 1])
  end
  io.write(table.concat(parts, " "), "\n")
  io.flush()
end

--- Give up: reason to stderr, exit status 2 (run.sh shows n/a).
function M.fail(workload, impl, why)
  io.stderr:write(workload, " ", impl, ": ", tostring(why), "\n")
  os.exit(2)
end

--- Check a result: fail unless 'cond'.
function M.check(cond, workload, impl, what)
  if not cond then M.fail(workload, impl, "wrong result: " .. what) end
end

--- require that fails the benchmark (n/a) instead of raising.
function M.need(workload, impl, name)
  local ok, mod = pcall(require, name)
  if not ok then M.fail(workload, impl, "cannot load " .. name .. ": " ..
                        tostring(mod)) end
  return mod
end

return M
