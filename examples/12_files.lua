-- 12. Files: in a fresh temporary directory, write a few files at once
-- (one task each), read them back, list the directory, look at a file's
-- stat, append to a file through a File object, then clean up. The whole
-- job runs under a 5 s timeout; every call runs in libuv's threadpool
-- while the other tasks go on.
local loom = require "loom"
local fs = loom.fs

local dir = os.tmpname()       -- a unique name; use it for a directory
os.remove(dir)

loom.run(function()
  loom.timeout(5, function()
    fs.mkdir(dir)
    local names = { "alpha.txt", "beta.bin", "gamma.txt" }
    loom.with_group(function(g)
      for i, name in ipairs(names) do
        g:spawn(function()
          fs.write_file(dir .. "/" .. name, string.rep(name .. "\n", i))
        end)
      end
    end)

    for _, e in ipairs(fs.scandir(dir)) do
      local path = dir .. "/" .. e.name
      local st = fs.stat(path)
      print(("%-10s %-9s %3d bytes, first line: %s"):format(
        e.name, e.type, st.size, fs.read_file(path):match("[^\n]*")))
    end

    do
      local f <close> = fs.open(dir .. "/alpha.txt", "a+")
      f:write("appended\n")
      print("alpha.txt now reads: " .. f:read(100):gsub("\n", " | "))
      print("its first 5 bytes:   " .. f:read(5, 0))
    end

    local ok, err = pcall(fs.read_file, dir .. "/missing.txt")
    print(("reading a missing file: %s, code %s, op %s"):format(
      tostring(ok), err.code, err.op))

    for _, name in ipairs(names) do fs.unlink(dir .. "/" .. name) end
    fs.rmdir(dir)
    print("cleaned up: " .. tostring(not pcall(fs.stat, dir)))
  end)
end)
