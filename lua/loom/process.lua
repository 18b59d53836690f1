--- Child processes: `loom.process.spawn` and `loom.process.run`.
-- Both are checkpoints and must run in a task. No zombie is ever left
-- (see `spawn`).
-- @module loom.process
local core = require "loom.core"
local group = require "loom.group"
local util = require "loom._util"

require "loom.stream"   -- wraps the methods of the piped stdio Streams

local type, error, pairs, concat = type, error, pairs, table.concat
local argerror, typeerror = util.argerror, util.typeerror
local with_group = group.with_group
local spawn = util.io(core.process_spawn, "spawn", 1)

local M = {}

local P = core.process_methods

--- **Checkpoint.** Start a child process and return its `Process`.
--
-- `spec = { "cmd", "arg", ..., cwd =, env =, stdin =, stdout =, stderr = }`.
-- The command is looked up in `PATH` (of `env` when given). `env` is the
-- child's whole environment, a table `{ NAME = "value" }` (default: loom's
-- own). Each of `stdin`, `stdout`, `stderr` is `"inherit"` (the default),
-- `"null"` or `"pipe"`; piped ones are `Stream`s in `p.stdin`, `p.stdout`,
-- `p.stderr`. `process_group = true` starts the child as the leader of a
-- new process group (and session): cancelling its wait, `p:kill` and the
-- end of `loom.run` then signal the whole group, so the children a shell
-- script starts go too. Without it only the direct child is signalled:
-- `sh -c "sleep 30; echo"` leaves `sleep` running when the wait is
-- cancelled.
--
-- A `Process` has `p.pid`, `p:wait()` and `p:kill([signal])`. No zombie is
-- left: if the task waiting in `p:wait()` is cancelled, the child gets
-- SIGTERM, then SIGKILL 1 s later, and is reaped before the `Cancelled`
-- goes on; a child nobody waits for is reaped when it exits, and
-- `loom.run` terminates (as above) and reaps the children its tasks left
-- running when its last task has finished (not those of `loom.start`'s
-- tasks, which it does not wait for).
-- @tparam table spec
-- @treturn Process
-- @raise `loom.IOError` (op "spawn"), code `"ENOENT"` for a missing command
-- (the message names the command, or the `cwd` when that is the cause)
-- @usage
-- local p = loom.process.spawn{ "sort", stdin = "pipe", stdout = "pipe" }
function M.spawn(spec)
  if type(spec) ~= "table" then typeerror(1, "spawn", "table", spec) end
  -- Not a tail call: the C function's argument errors quote this call.
  return (spawn(spec))
end

--- Child processes, made by `spawn`.
-- @type Process

--- The child's process id. Read-only.
-- @tfield integer pid

--- The child's stdin, a `Stream` when `spec.stdin` was `"pipe"`, else
-- `nil`: write to it, then close it. Read-only.
-- @tfield ?Stream stdin

--- The child's stdout, a `Stream` when piped, else `nil`. Read-only.
-- @tfield ?Stream stdout

--- The child's stderr, a `Stream` when piped, else `nil`. Read-only.
-- @tfield ?Stream stderr

--- **Checkpoint.** Wait until the child has exited and been reaped, and
-- return `code, signal`. That is the exit code and `nil`, or `nil` and the
-- name of the signal that killed it (`"SIGKILL"`). Can be called again (and
-- from several tasks). If the waiting task is cancelled, the child is
-- terminated (SIGTERM, SIGKILL after 1 s) and reaped, then the wait raises
-- `Cancelled`.
-- @function Process:wait
-- @treturn ?integer code
-- @treturn ?string signal
-- @raise `loom.Cancelled` (after the child was terminated and reaped)
-- @usage local code, sig = p:wait()
-- if code ~= 0 then print("failed", code or sig) end

--- Send a signal (a name or a number; default `"SIGTERM"`). Returns `true`,
-- or `false` if the child has already been reaped. Not a checkpoint. With
-- `spec.process_group`, the whole group gets it.
-- @function Process:kill
-- @tparam[opt="SIGTERM"] string|integer signal
-- @treturn boolean
-- @raise `loom.IOError` (op "kill")
-- @usage p:kill("SIGINT")
P.kill = util.io(P.kill, "kill", 2)

--- @section end

local function read_all(s, into)
  while true do
    local d = s:read()
    if d == nil then break end
    into[#into + 1] = d
  end
end

local function feed(s, input)
  local _ <close> = s
  if input ~= nil and #input > 0 then
    local ok, e = pcall(s.write, s, input)
    -- A child that exits without reading its input is not an error.
    if not ok and not (type(e) == "table" and (e.code == "EPIPE" or
                       e.code == "ECONNRESET")) then
      error(e, 0)
    end
  end
end

--- **Checkpoint.** Run a command to completion and capture its output:
-- returns `{ code =, signal =, stdout =, stderr = }`.
--
-- `spec` is the same as for `spawn`, plus `input` (a string fed to stdin,
-- which is then closed). Defaults differ: `stdout` and `stderr` are
-- `"pipe"` (captured as strings; `nil` in the result when not piped), and
-- `stdin` is `"pipe"` with `input`, else `"null"`. A failing exit code is
-- not an error: check `code`. A child that exits without reading its
-- `input` is fine. If the task is cancelled, the child is terminated and
-- reaped before `Cancelled` goes on.
-- @tparam table spec
-- @treturn table `{ code =, signal =, stdout =, stderr = }`
-- @raise `loom.IOError` (op "spawn"); `loom.Cancelled`; an argument error
-- for an `input` that is not a string, or with a `stdin` that is not
-- `"pipe"`
-- @usage
-- local r = loom.process.run{ "tr", "a-z", "A-Z", input = "hi" }
-- assert(r.code == 0 and r.stdout == "HI")
function M.run(spec)
  if type(spec) ~= "table" then typeerror(1, "run", "table", spec) end
  local input = spec.input
  if input ~= nil and type(input) ~= "string" then
    argerror(1, "run", "spec.input must be a string")
  end
  local s = {}
  for k, v in pairs(spec) do s[k] = v end
  s.input = nil
  s.stdout = spec.stdout or "pipe"
  s.stderr = spec.stderr or "pipe"
  s.stdin = spec.stdin or (input ~= nil and "pipe" or "null")
  if input ~= nil and s.stdin ~= "pipe" then
    argerror(1, "run", 'spec.input needs stdin = "pipe"')
  end
  local p = M.spawn(s)
  -- Closed however run() ends (also when it is cancelled or fails).
  local stdin <close> = p.stdin
  local stdout <close> = p.stdout
  local stderr <close> = p.stderr
  local out, err = {}, {}
  local code, sig
  with_group(function(g)
    if stdin then g:spawn(feed, stdin, input) end
    if stdout then g:spawn(read_all, stdout, out) end
    if stderr then g:spawn(read_all, stderr, err) end
    code, sig = p:wait()
  end)
  return { code = code, signal = sig,
           stdout = p.stdout and concat(out) or nil,
           stderr = p.stderr and concat(err) or nil }
end

-- Argument errors of the C functions name the caller's arguments and line.
core.mark_wrappers(M)
core.mark_wrappers(P)

return M
