--- Callback bridges: `loom.await` for callback-style APIs, and
-- `loom.use_luv` to run loom and luv on one libuv loop.
-- The functions of this module are merged into `loom`.
-- This file is module `loom.bridge`; its documentation is part of
-- the page of `loom` (config.ld merges it there).
-- @module loom
local core = require "loom.core"

local type, pcall, error, tostring = type, pcall, error, tostring
local package = package

local M = {}

--- Callback bridges.
-- Callback-style APIs (luv's, a C library's) and the futures of loom's C
-- API, made blocking calls of a task.
-- @section bridges

--- **Checkpoint.** Call `fn(..., callback)` and wait until `callback` is
-- called; return the arguments it was called with (all of them, `nil`s
-- included).
--
-- `callback` may be called at any later time (from a libuv callback, from
-- another task), or synchronously inside `fn`, in which case `await`
-- returns as soon as `fn` does. `fn` may itself wait. Only the first call
-- counts; a call that comes after the waiting task was cancelled, or a
-- second call, is ignored, with a warning to the handler of
-- `loom.on_unhandled` (or stderr). An error
-- raised by `fn` propagates unchanged. A task already inside a cancelled
-- scope raises `loom.Cancelled` without calling `fn`.
-- @tparam function fn the callback-style function
-- @param ... its arguments, before the callback
-- @return the callback's arguments
-- @raise `loom.Cancelled` (the waiting task was cancelled); an error
-- containing `outside of a loom task` outside a task
-- @usage
-- local uv = loom.use_luv()
-- local err, st = loom.await(uv.fs_stat, "/etc/hostname")
-- print(st.size)
-- @function await
M.await = core.await

-- Load luv on loom's loop (luv not loaded yet): its library gets loom's
-- loop before luaopen_luv runs, so luv makes no loop of its own.
local function open_luv(path, opener)
  local lib = core.luv_preopen(path, opener)
  local ok, uv = pcall(require, "luv")
  core.luv_preopen_end(lib)
  if not ok then
    error("loom.use_luv: cannot load luv: " .. tostring(uv), 3)
  end
  return uv
end

-- luv's uv.run, refused where it would run the loop from inside itself: in
-- a loom task or a callback while loom runs the loop (libuv's uv_run is not
-- reentrant; the tasks would run inside the running one).
local function guard_run(uv)
  local raw_run = uv.run
  if type(raw_run) ~= "function" or rawget(M, "_guarded") == raw_run then
    return
  end
  local function run(...)
    if core.loop_busy() then
      error("loom.use_luv: uv.run() cannot be called from inside a loom "
            .. "task or while loom runs the loop (libuv's loop is not "
            .. "reentrant): wait with loom's calls (loom.await, loom.sleep) "
            .. "instead", 2)
    end
    return raw_run(...)
  end
  uv.run = run
  M._guarded = run
end

--- Make loom and luv run on one libuv loop, and return the luv module.
-- luv is `require "luv"`: the Debian package `lua-luv` or the `luv` rock.
-- luv handles and loom tasks then live side by side:
-- `loom.await(uv.fs_stat, path)` works, luv timers fire while tasks
-- sleep, and `loom.run`, `loom.shutdown`, luv's `uv.run()` or a host's
-- `uv_run` drive both. Idempotent; not a checkpoint.
--
-- Call it before luv creates any handle, best before anything requires
-- luv: then luv opens on loom's loop (loom's own, or the host loop given
-- to `loom_attach`, which must come first), and errors raised in luv
-- callbacks go to `loom.on_unhandled` instead of exiting the process. If
-- luv was loaded first and has no handle yet, it is moved to loom's loop;
-- if it already has handles, loom adopts luv's loop, provided loom has
-- no loop yet and luv was loaded before loom; otherwise it raises.
-- @function use_luv
-- @treturn table the luv module
-- @raise an error if luv is not installed, was built against another
-- libuv than loom, or already runs handles on a loop loom cannot share
-- @usage
-- local loom = require "loom"
-- local uv = loom.use_luv()
-- loom.run(function()
--   local t = uv.new_timer()
--   t:start(10, 0, function() t:close() print("luv timer") end)
--   loom.sleep(0.02)
--   print("loom sleep")
-- end)
function M.use_luv()
  local uv = package.loaded.luv
  if uv == nil then
    -- What `require "luv"` will open: a preloaded C opener (luv linked
    -- into the host) first, else the library on package.cpath.
    local opener = package.preload.luv
    local path = opener == nil and package.searchpath("luv", package.cpath)
    if path or core.is_cfunction(opener) then
      uv = open_luv(path or nil, opener)
    else
      local ok, mod = pcall(require, "luv")
      if not ok then
        error("loom.use_luv: luv is not installed (install the Debian "
              .. "package lua-luv or the luv rock): " .. tostring(mod), 2)
      end
      uv = mod
    end
  end
  if type(uv) ~= "table" or type(uv.version) ~= "function" then
    error("loom.use_luv: package.loaded.luv is not the luv module", 2)
  end
  local v = uv.version()
  if type(v) ~= "number" then
    error("loom.use_luv: luv's version() did not return a number", 2)
  end
  core.luv_join(uv, v)
  guard_run(uv)
  return uv
end

--- Futures: one outcome, handed from C to the tasks that wait for it.
-- A C function makes one with `loom_future_new(L)` (it pushes the
-- object) and settles it later with `loom_future_resolve`,
-- `loom_future_reject` (on the loop's thread) or `loom_future_post` (from
-- any thread); the first settlement wins. See csrc/loom.h.
-- @type Future

--- **Checkpoint.** Wait until the future is settled and return its values
-- (all of them, `nil`s included), or raise its error value unchanged.
-- Any number of tasks may wait; once settled, `wait` keeps returning (or
-- raising) the same outcome. A waiter that is cancelled leaves the future
-- untouched. While a task waits for an unsettled future, the loop stays
-- alive (another thread may post).
-- @function Future:wait
-- @return the values the future was resolved with
-- @raise the error it was rejected with; `loom.Cancelled`
-- @usage local fut = host.fetch(url)   -- a C function of the host
-- local body = fut:wait()

--- `true` once the future is settled (a post counts once delivered to
-- the loop's thread). Not a checkpoint.
-- @function Future:is_done
-- @treturn boolean

--- `fut:is_done()`, by the contract's name.
-- @function Future:done
-- @treturn boolean

--- @section end

-- Misuse errors raised under these functions (outside of a task) name
-- the caller's line.
core.mark_sources(M)

return M
