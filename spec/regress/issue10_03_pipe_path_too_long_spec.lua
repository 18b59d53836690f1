-- Regression (issue 10, item 3): pipe.listen/pipe.connect with a path
-- longer than a Unix socket address holds (107 bytes) silently bound or
-- connected a truncated path; l.path reported the long one and l:close()
-- removed the wrong file, leaving a socket behind. Such a path is an
-- IOError with code ENAMETOOLONG, and nothing is created.
local loom = require "loom"
local S = require "spec.support"

describe("a Unix socket path longer than sun_path", function()
  local dir = os.tmpname()
  os.remove(dir)
  local long = dir .. "/" .. ("x"):rep(120)

  it("pipe.listen raises ENAMETOOLONG and creates nothing",
     S.async(function()
    local e = S.catch(loom.pipe.listen, long)
    assert.is_true(loom.IOError:is(e))
    assert.equal("ENAMETOOLONG", e.code)
    assert.equal("listen", e.op)
    -- no truncated socket file was made beside the long path
    local ok = pcall(loom.fs.stat, long:sub(1, 107))
    assert.is_false(ok)
  end))

  it("pipe.connect raises ENAMETOOLONG", S.async(function()
    local e = S.catch(loom.pipe.connect, long)
    assert.is_true(loom.IOError:is(e))
    assert.equal("ENAMETOOLONG", e.code)
  end))

  it("a path of 107 bytes still works", S.async(function()
    local base = os.tmpname()
    os.remove(base)
    local p = base .. ("y"):rep(107 - #base)
    assert.equal(107, #p)
    local l = loom.pipe.listen(p)
    assert.equal(p, l.path)
    local c = loom.pipe.connect(p)
    local s = l:accept()
    c:write("hi")
    assert.equal("hi", s:read())
    c:close(); s:close(); l:close()
    assert.is_false((pcall(loom.fs.stat, p)))
  end))

  it("a path with a NUL byte is an argument error", S.async(function()
    local e = tostring(S.catch(loom.pipe.listen, "/tmp/a\0b"))
    assert.truthy(e:find("bad argument #1", 1, true), e)
  end))
end)
