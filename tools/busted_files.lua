-- A busted output handler: one line per spec file as it finishes
-- ("ok" or "FAIL", its counts and time), then busted's usual summary line
-- and the details of every failure, as plainTerminal prints them (so
-- tools/test.sh reads the summary the same way). Used by `make test`:
--   busted -o tools/busted_files.lua
local pretty = require "pl.pretty"

return function(options)
  local busted = require "busted"
  local handler = require("busted.outputHandlers.base")()
  local write, flush, format = io.write, io.flush, string.format
  local clock = busted.gettime or os.clock    -- wall-clock seconds

  local file                -- the counts of the file running
  local function new_file(name)
    return { name = name, ok = 0, failed = 0, pending = 0, t0 = clock() }
  end

  local function message(failure)
    local m = failure.message
    if type(m) == "string" then return m end
    if m == nil then return "Nil error" end
    return pretty.write(m)
  end

  local function describe(failure, kind)
    local head = kind .. " -> "
    local trace = failure.element.trace
    if trace == nil or trace.short_src == nil then
      return head .. message(failure) .. "\n" .. failure.name
    end
    local s = head .. trace.short_src .. " @ " .. trace.currentline .. "\n"
              .. failure.name .. "\n" .. message(failure)
    if options.verbose and failure.trace and failure.trace.traceback then
      s = s .. "\n" .. failure.trace.traceback
    end
    return s
  end

  handler.fileStart = function(element)
    file = new_file(element.name)
    return nil, true
  end

  handler.fileEnd = function()
    if file ~= nil then
      local n = file.ok + file.failed
      write(format("%-4s %-58s %4d test%s%s  %.2f s\n",
                   file.failed > 0 and "FAIL" or "ok", file.name, n,
                   n == 1 and "" or "s",
                   file.failed > 0 and (", " .. file.failed .. " failed")
                   or "", clock() - file.t0))
      flush()
    end
    file = nil
    return nil, true
  end

  handler.testEnd = function(_, _, status)
    if file ~= nil then
      if status == "success" then file.ok = file.ok + 1
      elseif status == "pending" then file.pending = file.pending + 1
      else file.failed = file.failed + 1 end
    end
    return nil, true
  end

  handler.fileError = function()
    if file ~= nil then file.failed = file.failed + 1 end
    return nil, true
  end

  handler.suiteEnd = function()
    local sec = handler.getDuration()
    write(format("%d success%s / %d failure%s / %d error%s / %d pending : "
                 .. "%.6f seconds\n",
                 handler.successesCount,
                 handler.successesCount == 1 and "" or "es",
                 handler.failuresCount,
                 handler.failuresCount == 1 and "" or "s",
                 handler.errorsCount, handler.errorsCount == 1 and "" or "s",
                 handler.pendingsCount, sec))
    for _, f in ipairs(handler.failures) do
      write("\n", describe(f, "Failure"), "\n")
    end
    for _, e in ipairs(handler.errors) do
      write("\n", describe(e, "Error"), "\n")
    end
    flush()
    return nil, true
  end

  busted.subscribe({ "file", "start" }, handler.fileStart)
  busted.subscribe({ "file", "end" }, handler.fileEnd)
  busted.subscribe({ "test", "end" }, handler.testEnd,
                   { predicate = handler.cancelOnPending })
  busted.subscribe({ "error", "file" }, handler.fileError)
  busted.subscribe({ "failure", "file" }, handler.fileError)
  busted.subscribe({ "suite", "end" }, handler.suiteEnd)

  return handler
end
