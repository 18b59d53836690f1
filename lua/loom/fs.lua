--- Files and directories (`loom.fs`), on libuv's threadpool.
-- Every call here is a checkpoint: it runs in libuv's threadpool while the
-- task waits, and a cancelled call returns at once with `loom.Cancelled`
-- (libuv drops the work if it has not started; otherwise it finishes in
-- the background and its result is discarded, and `loom.run` waits for it
-- before it returns). Failures raise `loom.IOError` with `code` (libuv's
-- name, e.g. `"ENOENT"`), `message` (which names the path), `op` (e.g.
-- `"open"`) and `path`. A call cancelled at the very moment it completes
-- returns its result, and `Cancelled` comes at the next checkpoint; under
-- a shield every call completes. Bad arguments raise an argument error at
-- once.
-- @module loom.fs
local core = require "loom.core"
local util = require "loom._util"

local type = type
local concat = table.concat
local typeerror = util.typeerror

local M = {}

-- The `where` of the IOErrors (see loom._util.io): the message names the
-- path (both paths for rename), and `e.path` is the (first) path.
local function at_path(path) return path, { path = path } end
local function at_paths(from, to)
  return ("%s -> %s"):format(from, to), { path = from }
end
local function at_file(f)
  local path = f.path
  return path, { path = path }
end

--- **Checkpoint.** Open a file.
-- @tparam string path
-- @tparam[opt="r"] string flags as `io.open`: `"r"`, `"w"`, `"a"`, `"r+"`,
--   `"w+"`, `"a+"`, with an optional `"b"` (ignored), and `"x"` after
--   `"w"` to fail with `EEXIST` if the file exists
-- @tparam[opt=0666] integer mode permissions of a new file (before umask)
-- @treturn File
-- @raise `loom.IOError` (op `"open"`), `loom.Cancelled`
-- @usage local f <close> = loom.fs.open("/tmp/x", "w", tonumber("600", 8))
-- @function open
M.open = util.io(core.fs_open, "open", 3, { where = at_path })

--- **Checkpoint.** Information about a path (links followed).
-- @tparam string path
-- @treturn table the fields `size`, `type` (`"file"`, `"directory"`,
--   `"link"`, `"fifo"`, `"socket"`, `"char"`, `"block"` or `"unknown"`),
--   `mode` (the permission bits), `mtime`, `atime`, `ctime`, `birthtime`
--   (seconds, floats), `nlink`, `uid`, `gid`, `ino`, `dev`, `rdev`,
--   `blksize`, `blocks`
-- @raise `loom.IOError` (op `"stat"`), `loom.Cancelled`
-- @usage if loom.fs.stat(p).type == "directory" then ... end
-- @function stat
M.stat = util.io(core.fs_stat, "stat", 1, { where = at_path })

--- **Checkpoint.** Like `stat`, but a symbolic link is described itself.
-- @tparam string path
-- @treturn table as `stat`
-- @raise `loom.IOError` (op `"lstat"`), `loom.Cancelled`
-- @function lstat
M.lstat = util.io(core.fs_lstat, "lstat", 1, { where = at_path })

--- **Checkpoint.** Remove a file (not a directory).
-- @tparam string path
-- @treturn boolean `true`
-- @raise `loom.IOError` (op `"unlink"`), `loom.Cancelled`
-- @usage loom.fs.unlink("/tmp/x")
-- @function unlink
M.unlink = util.io(core.fs_unlink, "unlink", 1, { where = at_path })

--- **Checkpoint.** Create a directory.
-- @tparam string path
-- @tparam[opt=0777] integer mode permissions (before umask)
-- @treturn boolean `true`
-- @raise `loom.IOError` (op `"mkdir"`, e.g. `EEXIST`), `loom.Cancelled`
-- @usage loom.fs.mkdir("/tmp/d", tonumber("700", 8))
-- @function mkdir
M.mkdir = util.io(core.fs_mkdir, "mkdir", 2, { where = at_path })

--- **Checkpoint.** Remove an empty directory.
-- @tparam string path
-- @treturn boolean `true`
-- @raise `loom.IOError` (op `"rmdir"`, e.g. `ENOTEMPTY`), `loom.Cancelled`
-- @function rmdir
M.rmdir = util.io(core.fs_rmdir, "rmdir", 1, { where = at_path })

--- **Checkpoint.** Rename (move) `from` to `to`, replacing `to` if it is a
-- file.
-- @tparam string from
-- @tparam string to
-- @treturn boolean `true`
-- @raise `loom.IOError` (op `"rename"`), `loom.Cancelled`
-- @usage loom.fs.rename("/tmp/a", "/tmp/b")
-- @function rename
M.rename = util.io(core.fs_rename, "rename", 2, { where = at_paths })

--- **Checkpoint.** The entries of a directory, sorted by name (`.` and
-- `..` left out).
-- @tparam string path
-- @treturn table an array of `{ name =, type = }`, `type` as for `stat`
-- @raise `loom.IOError` (op `"scandir"`), `loom.Cancelled`
-- @usage for _, e in ipairs(loom.fs.scandir(".")) do print(e.name, e.type)
--   end
-- @function scandir
M.scandir = util.io(core.fs_scandir, "scandir", 1, { where = at_path })

--- File objects, returned by `open`.
-- Reads and writes without an offset use the file's position and advance
-- it; with an offset they leave it. At most one read or write without an
-- offset runs at a time; others wait their turn. A read that is cancelled
-- does not move the position: the next read returns the same bytes.
-- Closed files raise an error containing `closed`. `__gc` and `__close`
-- close an unclosed file without blocking.
-- @type File
local File, native = core.File_methods, core.File_native

--- The path given to `open`. Read-only.
-- @tfield string path

--- **Checkpoint.** Read up to `n` bytes (one read: a regular file gives
-- `n` unless the end is near).
-- @tparam integer n the most bytes to read (0 gives `""`)
-- @tparam[opt] integer offset read there, leaving the position alone
-- @treturn string|nil the bytes, `nil` at the end of the file
-- @raise `loom.IOError` (op `"read"`), `loom.Cancelled`, "closed"
-- @usage local head = f:read(16, 0)
-- @function File:read
File.read = util.io(native.read, "read", 3, { where = at_file })

--- **Checkpoint.** Write all of `data`; returns the file, so calls chain.
-- A cancelled write that had already started completes (the position
-- then moves past it). In the append modes every write goes to the end
-- of the file.
-- @tparam string data
-- @tparam[opt] integer offset write there, leaving the position alone
-- @treturn File the file itself
-- @raise `loom.IOError` (op `"write"`), `loom.Cancelled`, "closed"
-- @usage f:write("header\n"):write(body)
-- @function File:write
File.write = util.io(native.write, "write", 3, { where = at_file })

--- **Checkpoint.** Information about the open file (as `loom.fs.stat`).
-- @treturn table as `loom.fs.stat`
-- @raise `loom.IOError` (op `"fstat"`), `loom.Cancelled`, "closed"
-- @function File:stat
File.stat = util.io(native.stat, "fstat", 1, { where = at_file })

--- **Checkpoint.** Close the file (idempotent). The file is closed even if
-- the task is cancelled meanwhile (the close then ends in the
-- background); outside a task it closes without waiting. Tasks waiting
-- to read or write it raise "closed", and so do later calls.
-- @raise `loom.IOError` (op `"close"`), `loom.Cancelled`
-- @function File:close
File.close = util.io(native.close, "close", 1,
                     { results = 0, where = at_file })

--- `true` once the file is closed.
-- @function File:is_closed
-- @treturn boolean

--- Whole files.
-- @section whole

-- The size of the reads of read_file: the file's size (+1 to see the end)
-- in one go, at most 64 MiB at a time.
local MAXCHUNK = 64 * 1024 * 1024

--- **Checkpoint.** The whole content of a file (`""` for an empty file).
-- It reads until the end, so files whose size is 0 in `stat` (`/proc`)
-- work.
-- @tparam string path
-- @treturn string
-- @raise `loom.IOError` (op `"open"`, `"read"`...), `loom.Cancelled`
-- @usage local text = loom.fs.read_file("/etc/hostname")
function M.read_file(path)
  local f <close> = M.open(path, "r")
  local size = f:stat().size
  local chunk = size > 0 and size + 1 or 65536
  if chunk > MAXCHUNK then chunk = MAXCHUNK end
  local parts, n = {}, 0
  while true do
    local s = f:read(chunk)
    if s == nil then break end
    n = n + 1
    parts[n] = s
  end
  f:close()
  if n == 1 then return parts[1] end
  return concat(parts, "", 1, n)
end

--- **Checkpoint.** Write `data` to a file, creating it or replacing its
-- content (mode 0666 before umask for a new file). Not atomic: a failure
-- or cancellation part way leaves a partial file.
-- @tparam string path
-- @tparam string data
-- @raise `loom.IOError` (op `"open"`, `"write"`...), `loom.Cancelled`
-- @usage loom.fs.write_file("/tmp/x", "hello\n")
function M.write_file(path, data)
  if type(data) ~= "string" then typeerror(2, "write_file", "string", data) end
  local f <close> = M.open(path, "w")
  f:write(data)
  f:close()
end

-- Argument errors of the C functions name the caller's arguments and line.
core.mark_wrappers(M)
core.mark_wrappers(File)

return M
